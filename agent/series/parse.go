package series

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// Parse reads Prometheus text exposition format (0.0.4) into a Batch, in
// one pass over text (after counting its lines, to size the batch) and
// with one allocation per series for its labels.
//
// It accepts exactly what expfmt's TextParser accepts with the classic
// (legacy) name rules, which is what Pushgateways before 1.10 accept and
// what the agent has always accepted, and rejects the rest with expfmt's
// own error (an expfmt.ParseError with the same line and message). Those
// rules are expfmt's, not textparse's (which is laxer in some corners and
// stricter in others), so this parser walks the same grammar; a
// differential fuzz target (FuzzParseMatchesExpfmt) holds the two together.
// Among what is accepted:
//   - the text must end with a newline; # TYPE names are case-insensitive;
//   - a family may be interleaved with others; its samples are gathered;
//   - in a histogram family, a sample named like the family or family_bucket
//     with an le label is a bucket (named family_bucket in the batch), and
//     family_sum / family_count its sum and count; in a summary, a sample
//     named like the family with a quantile label is a quantile. A repeated
//     _sum or _count replaces the earlier one, and every histogram or
//     summary gets its _sum and _count (0 when the text gave none), as the
//     Pushgateway stores it;
//   - le and quantile values are written as Prometheus writes floats
//     ("0.50" becomes "0.5", "+inf" "+Inf"), so that a bucket bound reads
//     the same whoever exposed it;
//   - a histogram's or summary's samples share one timestamp, the last one
//     given on any of its lines, since that is what a Pushgateway keeps.
//
// One deliberate difference: for a line that starts with '{' (the metric
// name inside the braces), expfmt reads le and quantile labels by the type
// of the line before; Parse reads them by the line's own family.
//
// # UNIT lines (OpenMetrics) are comments to expfmt and are read here as
// the family's unit when they name a family of the text.
func Parse(text []byte) (*Batch, error) {
	p := parser{text: text, fam: -1}
	// A sample per line at most: no growing the samples as they come.
	p.samples = make([]Sample, 0, bytes.Count(text, []byte{'\n'}))
	p.run()
	if p.err != nil {
		if p.err == errEOF {
			p.fail("unexpected end of input stream")
		}
		return nil, p.err
	}
	return p.finish(), nil
}

// errEOF is the end of the text where more was due; Parse reports it as
// expfmt does.
var errEOF = errors.New("series: unexpected end of input")

// errFloat is a float the text format does not take (Go's hexadecimal
// floats and digit separators are Go's, not the format's).
var errFloat = errors.New("series: not a float")

// famState is a family while parsing; typed is whether its type is set
// (by a # TYPE line or its first sample), as expfmt tells a second # TYPE
// from the first.
type famState struct {
	Family
	typed   bool
	hasHelp bool
	dtype   dto.MetricType
	n       int // samples
	// The sample names of a histogram's or summary's parts, made once.
	bucket, sum, count string
}

// group is one histogram or summary (its samples but for le/quantile share
// their labels): where its _sum and _count are, and its timestamp.
type group struct {
	fam        int32
	sum, count int32 // sample index, -1 when not yet seen
	first      int32 // a sample of the group, -1 when none
	base       labels.Labels
	t          int64
	hasT       bool
}

type pair struct{ name, value string }

type parser struct {
	text []byte
	pos  int
	cur  byte
	err  error
	line int

	fams   []famState
	byName map[string]int32
	fam    int32 // the current family (kept from line to line, as expfmt does)

	samples []Sample
	groupOf []int32 // per sample: its group, or -1
	groups  []group
	bySig   map[uint64]int32
	seed    maphash.Seed
	anyT    bool // a histogram or summary line carried a timestamp
	units   map[string]string

	// Per line.
	scratch          []byte // unescaped tokens of the line
	tok              []byte
	pairs            []pair
	braces, named    bool // the line starts with '{'; its name was found
	haveMetric       bool
	quantile, bucket float64
	isSum, isCount   bool
	sb               labels.ScratchBuilder
}

func (p *parser) fail(msg string) {
	p.err = expfmt.ParseError{Line: p.line, Msg: msg}
}

func (p *parser) next() {
	if p.pos < len(p.text) {
		p.cur = p.text[p.pos]
		p.pos++
		return
	}
	p.cur = 0
	p.err = errEOF
}

func isBlank(b byte) bool { return b == ' ' || b == '\t' }

func (p *parser) skipBlank() {
	for {
		if p.next(); p.err != nil || !isBlank(p.cur) {
			return
		}
	}
}

func (p *parser) skipBlankIfBlank() {
	if isBlank(p.cur) {
		p.skipBlank()
	}
}

// yolo views b as a string without copying; the string must not outlive
// b's contents (the text, or the line's scratch).
func yolo(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (p *parser) startTok() { p.tok = p.scratch[len(p.scratch):] }

func (p *parser) add(b byte) {
	p.scratch = append(p.scratch, b)
	p.tok = p.scratch[len(p.scratch)-len(p.tok)-1:]
}

func (p *parser) run() {
	for p.err == nil {
		if !p.parseLine() {
			return
		}
	}
}

// parseLine reads one line; it returns false at the end of the text or on
// an error.
func (p *parser) parseLine() bool {
	p.line++
	p.scratch = p.scratch[:0]
	p.pairs = p.pairs[:0]
	p.braces, p.named, p.haveMetric = false, false, false
	p.quantile, p.bucket = math.NaN(), math.NaN()
	if p.skipBlank(); p.err != nil {
		p.err = nil // the only place the end of the text is not an error
		return false
	}
	switch p.cur {
	case '#':
		return p.comment()
	case '\n':
		return true
	case '{':
		p.braces = true
		return p.labels()
	}
	return p.metricName()
}

func (p *parser) comment() bool {
	if p.skipBlank(); p.err != nil {
		return false
	}
	if p.cur == '\n' {
		return true
	}
	if p.untilBlank(); p.err != nil {
		return false
	}
	if p.cur == '\n' {
		return true
	}
	keyword := yolo(p.tok)
	if keyword != "HELP" && keyword != "TYPE" {
		rest := p.pos
		for p.cur != '\n' {
			if p.next(); p.err != nil {
				return false
			}
		}
		if keyword == "UNIT" {
			p.unit(p.text[rest-1 : p.pos-1])
		}
		return true
	}
	if p.skipBlank(); p.err != nil {
		return false
	}
	if p.metricNameTok(); p.err != nil {
		return false
	}
	if p.cur == '\n' {
		return true
	}
	if !isBlank(p.cur) {
		p.fail("invalid metric name in comment")
		return false
	}
	if p.setFamily(); p.err != nil {
		return false
	}
	if p.skipBlank(); p.err != nil {
		return false
	}
	if p.cur == '\n' {
		return true
	}
	if keyword == "HELP" {
		return p.help()
	}
	return p.typ()
}

// unit records "# UNIT name unit"; it is a comment to the text format, so
// nothing in it is an error.
func (p *parser) unit(rest []byte) {
	f := strings.Fields(string(rest))
	if len(f) != 2 {
		return
	}
	if p.units == nil {
		p.units = map[string]string{}
	}
	p.units[f[0]] = f[1]
}

func (p *parser) help() bool {
	f := &p.fams[p.fam]
	if f.hasHelp {
		p.fail(fmt.Sprintf("second HELP line for metric name %q", f.Name))
		return false
	}
	if p.untilNewline(true); p.err != nil {
		return false
	}
	f.Help, f.hasHelp = string(p.tok), true
	return true
}

func (p *parser) typ() bool {
	f := &p.fams[p.fam]
	if f.typed {
		p.fail(fmt.Sprintf("second TYPE line for metric name %q, or TYPE reported after samples", f.Name))
		return false
	}
	if p.untilNewline(false); p.err != nil {
		return false
	}
	t, ok := dto.MetricType_value[strings.ToUpper(yolo(p.tok))]
	if !ok {
		if strings.ToUpper(yolo(p.tok)) != "GAUGEHISTOGRAM" {
			p.fail(fmt.Sprintf("unknown metric type %q", p.tok))
			return false
		}
		t = int32(dto.MetricType_GAUGE_HISTOGRAM)
	}
	f.setType(dto.MetricType(t))
	return true
}

func (f *famState) setType(t dto.MetricType) {
	f.typed, f.dtype = true, t
	switch t {
	case dto.MetricType_COUNTER:
		f.Type = model.MetricTypeCounter
	case dto.MetricType_GAUGE:
		f.Type = model.MetricTypeGauge
	case dto.MetricType_SUMMARY:
		f.Type = model.MetricTypeSummary
	case dto.MetricType_HISTOGRAM:
		f.Type = model.MetricTypeHistogram
	case dto.MetricType_GAUGE_HISTOGRAM:
		f.Type = model.MetricTypeGaugeHistogram
	default:
		f.Type = model.MetricTypeUnknown
	}
}

func (p *parser) curType() dto.MetricType {
	if p.fam < 0 {
		return dto.MetricType_UNTYPED
	}
	return p.fams[p.fam].dtype
}

func isHistogram(t dto.MetricType) bool {
	return t == dto.MetricType_HISTOGRAM || t == dto.MetricType_GAUGE_HISTOGRAM
}

// setFamily finds or makes the family the token names, as expfmt does:
// the family of that exact name, else the summary whose _sum or _count it
// is, else the histogram whose _sum, _count or _bucket it is, else a new
// family.
func (p *parser) setFamily() {
	p.isSum, p.isCount = false, false
	name := yolo(p.tok)
	if !model.LegacyValidation.IsValidMetricName(name) {
		p.fail(fmt.Sprintf("invalid metric name %q", name))
		return
	}
	if p.fam >= 0 && p.fams[p.fam].Name == name {
		return // the family of the line before, the common case
	}
	if i, ok := p.byName[name]; ok {
		p.fam = i
		return
	}
	isCount := len(name) > 6 && strings.HasSuffix(name, "_count")
	isSum := len(name) > 4 && strings.HasSuffix(name, "_sum")
	base := name
	switch {
	case isCount:
		base = name[:len(name)-6]
	case isSum:
		base = name[:len(name)-4]
	}
	if i, ok := p.byName[base]; ok && p.fams[i].dtype == dto.MetricType_SUMMARY && p.fams[i].typed {
		p.fam, p.isCount, p.isSum = i, isCount, isSum
		return
	}
	if !isCount && !isSum && len(name) > 7 && strings.HasSuffix(name, "_bucket") {
		base = name[:len(name)-7]
	}
	if i, ok := p.byName[base]; ok && isHistogram(p.fams[i].dtype) && p.fams[i].typed {
		p.fam, p.isCount, p.isSum = i, isCount, isSum
		return
	}
	if p.byName == nil {
		p.byName = map[string]int32{}
	}
	s := string(p.tok)
	p.fam = int32(len(p.fams))
	p.byName[s] = p.fam
	p.fams = append(p.fams, famState{Family: Family{Name: s}})
}

func (p *parser) metricName() bool {
	if p.metricNameTok(); p.err != nil {
		return false
	}
	if len(p.tok) == 0 {
		p.fail("invalid metric name")
		return false
	}
	if p.newMetric(); p.err != nil {
		return false
	}
	if p.skipBlankIfBlank(); p.err != nil {
		return false
	}
	return p.labels()
}

// newMetric starts the line's metric in the family the token names.
func (p *parser) newMetric() {
	p.setFamily()
	if p.err != nil {
		return
	}
	if f := &p.fams[p.fam]; !f.typed {
		f.setType(dto.MetricType_UNTYPED)
	}
	p.haveMetric, p.named = true, true
}

func (p *parser) labels() bool {
	if p.cur != '{' {
		return p.value()
	}
	for {
		if p.skipBlank(); p.err != nil {
			return false
		}
		if p.cur == '}' {
			if !p.haveMetric {
				p.fail("invalid metric name")
				return false
			}
			if p.skipBlank(); p.err != nil {
				return false
			}
			return p.value()
		}
		if p.labelNameTok(); p.err != nil {
			return false
		}
		if len(p.tok) == 0 {
			p.fail(fmt.Sprintf("invalid label name for metric %q", p.famName()))
			return false
		}
		if p.skipBlankIfBlank(); p.err != nil {
			return false
		}
		if p.cur != '=' {
			if !p.braces {
				p.fail(fmt.Sprintf("expected '=' after label name, found %q", p.cur))
				return false
			}
			if p.named {
				p.fail(fmt.Sprintf("multiple metric names for metric %q", p.famName()))
				return false
			}
			switch p.cur {
			case ',', '}':
				if p.newMetric(); p.err != nil {
					return false
				}
				if !p.specialAfterName() {
					return false
				}
				if p.cur == ',' {
					continue
				}
				if p.skipBlank(); p.err != nil {
					return false
				}
				return p.value()
			default:
				p.fail(fmt.Sprintf("unexpected end of metric name %q", p.cur))
				return false
			}
		}
		name := yolo(p.tok)
		if name == model.MetricNameLabel {
			p.fail(fmt.Sprintf("label name %q is reserved", model.MetricNameLabel))
			return false
		}
		if !model.LegacyValidation.IsValidLabelName(name) {
			p.fail(fmt.Sprintf("invalid label name %q", name))
			return false
		}
		special := p.isSpecial(name)
		if !special {
			for _, q := range p.pairs {
				if q.name == name {
					p.fail(fmt.Sprintf("duplicate label names for metric %q", p.famName()))
					return false
				}
			}
		}
		if p.skipBlank(); p.err != nil {
			return false
		}
		if p.cur != '"' {
			p.fail(fmt.Sprintf("expected '\"' at start of label value, found %q", p.cur))
			return false
		}
		if p.labelValueTok(); p.err != nil {
			return false
		}
		value := yolo(p.tok)
		if !utf8.ValidString(value) {
			p.fail(fmt.Sprintf("invalid label value %q", value))
			return false
		}
		if special {
			if !p.setSpecial(name, value) {
				return false
			}
		} else {
			p.pairs = append(p.pairs, pair{name, value})
		}
		if p.skipBlank(); p.err != nil {
			return false
		}
		switch p.cur {
		case ',':
		case '}':
			if !p.haveMetric {
				p.fail("invalid metric name")
				return false
			}
			if p.skipBlank(); p.err != nil {
				return false
			}
			return p.value()
		default:
			p.fail(fmt.Sprintf("unexpected end of label value %q", value))
			return false
		}
	}
}

func (p *parser) famName() string {
	if p.fam < 0 {
		return ""
	}
	return p.fams[p.fam].Name
}

// isSpecial is whether a label is a summary's quantile or a histogram's le,
// which the text format reads as part of the sample, not as a label. Before
// the name of a '{'-first line is read, no label is.
func (p *parser) isSpecial(name string) bool {
	if p.braces && !p.named {
		return false
	}
	t := p.curType()
	return (t == dto.MetricType_SUMMARY && name == model.QuantileLabel) || (isHistogram(t) && name == model.BucketLabel)
}

func (p *parser) setSpecial(name, value string) bool {
	v, err := parseFloat(value)
	if err != nil {
		p.fail(fmt.Sprintf("expected float as value for '%s' label, got %q", name, value))
		return false
	}
	if name == model.QuantileLabel {
		p.quantile = v
	} else {
		p.bucket = v
	}
	return true
}

// specialAfterName reads, once a '{'-first line has named its family, the
// le or quantile among the labels read before the name.
func (p *parser) specialAfterName() bool {
	for i := 0; i < len(p.pairs); i++ {
		if q := p.pairs[i]; p.isSpecial(q.name) {
			if !p.setSpecial(q.name, q.value) {
				return false
			}
			p.pairs = slices.Delete(p.pairs, i, i+1)
			i--
		}
	}
	return true
}

func parseFloat(s string) (float64, error) {
	if strings.ContainsAny(s, "pP_") {
		return 0, errFloat
	}
	return strconv.ParseFloat(s, 64)
}

func (p *parser) value() bool {
	if p.untilBlank(); p.err != nil {
		return false
	}
	v, err := parseFloat(yolo(p.tok))
	if err != nil {
		p.fail(fmt.Sprintf("expected float as value, got %q", p.tok))
		return false
	}
	f := &p.fams[p.fam]
	kind := kindPlain
	switch {
	case f.dtype == dto.MetricType_SUMMARY:
		switch {
		case p.isCount:
			kind = kindCount
		case p.isSum:
			kind = kindSum
		case !math.IsNaN(p.quantile):
			kind = kindQuantile
		default:
			kind = kindNone
		}
	case isHistogram(f.dtype):
		switch {
		case p.isCount:
			kind = kindCount
		case p.isSum:
			kind = kindSum
		case !math.IsNaN(p.bucket):
			kind = kindBucket
		default:
			kind = kindNone
		}
		if kind == kindCount || kind == kindBucket {
			if u := uint64(v); v != float64(u) && v < 0 {
				what := "count"
				if kind == kindBucket {
					what = "bucket population"
				}
				p.fail(fmt.Sprintf("negative %s for histogram %q", what, f.Name))
				return false
			}
		}
	}
	var t int64
	hasT := false
	if p.cur != '\n' {
		if t, hasT = p.timestamp(); p.err != nil {
			return false
		}
	}
	p.emit(kind, v, t, hasT)
	return true
}

const (
	kindPlain = iota
	kindNone  // a histogram or summary line that adds no sample
	kindBucket
	kindQuantile
	kindSum
	kindCount
)

func (p *parser) timestamp() (int64, bool) {
	if p.skipBlank(); p.err != nil {
		return 0, false
	}
	if p.untilBlank(); p.err != nil {
		return 0, false
	}
	t, err := strconv.ParseInt(yolo(p.tok), 10, 64)
	if err != nil {
		p.fail(fmt.Sprintf("expected integer as timestamp, got %q", p.tok))
		return 0, false
	}
	if p.untilNewline(false); p.err != nil {
		return 0, false
	}
	if len(p.tok) > 0 {
		p.fail(fmt.Sprintf("spurious string after timestamp: %q", p.tok))
		return 0, false
	}
	return t, true
}

// emit adds the line's sample (or, for a histogram or summary line that
// carries none, its group).
func (p *parser) emit(kind int, v float64, t int64, hasT bool) {
	f := &p.fams[p.fam]
	name := f.Name
	switch kind {
	case kindBucket:
		name = f.partName(&f.bucket, "_bucket")
	case kindSum:
		name = f.partName(&f.sum, "_sum")
	case kindCount:
		name = f.partName(&f.count, "_count")
	}
	p.sb.Reset()
	p.sb.Add(model.MetricNameLabel, name)
	for _, q := range p.pairs {
		p.sb.Add(q.name, q.value)
	}
	p.sb.Sort()
	if kind == kindPlain {
		p.samples = append(p.samples, Sample{Labels: p.sb.Labels(), Value: v, T: t, Family: p.fam})
		if p.groupOf != nil {
			p.groupOf = append(p.groupOf, -1)
		}
		f.n++
		return
	}
	if p.groupOf == nil {
		p.groupOf = make([]int32, len(p.samples), len(p.samples)+16)
		for i := range p.groupOf {
			p.groupOf[i] = -1
		}
	}
	// The group's identity: its family and labels but le or quantile.
	slices.SortFunc(p.pairs, func(a, b pair) int { return strings.Compare(a.name, b.name) })
	if p.bySig == nil {
		p.seed = maphash.MakeSeed()
		p.bySig = map[uint64]int32{}
	}
	var h maphash.Hash
	h.SetSeed(p.seed)
	var fb [4]byte
	fb[0], fb[1], fb[2], fb[3] = byte(p.fam), byte(p.fam>>8), byte(p.fam>>16), byte(p.fam>>24)
	_, _ = h.Write(fb[:])
	for _, q := range p.pairs {
		h.WriteString(q.name)
		h.WriteByte(0xff)
		h.WriteString(q.value)
		h.WriteByte(0xfe)
	}
	sig := h.Sum64()
	gi, ok := p.bySig[sig]
	if !ok {
		gi = int32(len(p.groups))
		p.bySig[sig] = gi
		p.groups = append(p.groups, group{fam: p.fam, sum: -1, count: -1, first: -1})
	}
	g := &p.groups[gi]
	if hasT {
		g.t, g.hasT, p.anyT = t, true, true
	}
	switch kind {
	case kindNone:
		if g.first < 0 && g.base.IsEmpty() {
			g.base = p.sb.Labels()
		}
		return
	case kindSum, kindCount:
		at := &g.sum
		if kind == kindCount {
			at = &g.count
		}
		if *at >= 0 {
			p.samples[*at].Value = v // a repeated _sum or _count replaces the first
			return
		}
		*at = int32(len(p.samples))
	case kindBucket:
		p.sb.Add(model.BucketLabel, formatFloat(p.bucket))
		p.sb.Sort()
	case kindQuantile:
		p.sb.Add(model.QuantileLabel, formatFloat(p.quantile))
		p.sb.Sort()
	}
	if g.first < 0 {
		g.first = int32(len(p.samples))
	}
	p.samples = append(p.samples, Sample{Labels: p.sb.Labels(), Value: v, T: t, Family: p.fam})
	p.groupOf = append(p.groupOf, gi)
	f.n++
}

// relabel is ls named name and without the label drop. labels.Builder
// would do it but drops labels with an empty value, which the text format
// keeps.
func (p *parser) relabel(ls labels.Labels, name, drop string) labels.Labels {
	p.sb.Reset()
	ls.Range(func(l labels.Label) {
		switch l.Name {
		case model.MetricNameLabel:
			p.sb.Add(l.Name, name)
		case drop:
		default:
			p.sb.Add(l.Name, l.Value)
		}
	})
	return p.sb.Labels()
}

func (f *famState) partName(s *string, suffix string) string {
	if *s == "" {
		*s = f.Name + suffix
	}
	return *s
}

// formatFloat writes a bucket bound or quantile as Prometheus writes
// floats, without allocating for the common bounds.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// finish fills in each histogram's and summary's missing _sum and _count,
// gives its samples its one timestamp, drops families without samples and
// makes each family's samples contiguous.
func (p *parser) finish() *Batch {
	for gi := range p.groups {
		g := &p.groups[gi]
		f := &p.fams[g.fam]
		if g.sum >= 0 && g.count >= 0 {
			continue
		}
		base := g.base
		if g.first >= 0 {
			// le is ours in a histogram, quantile in a summary; the other
			// is a label like any.
			special := model.QuantileLabel
			if isHistogram(f.dtype) {
				special = model.BucketLabel
			}
			base = p.samples[g.first].Labels
			base = p.relabel(base, f.Name, special)
		}
		for _, part := range []struct {
			at     *int32
			s      *string
			suffix string
		}{{&g.sum, &f.sum, "_sum"}, {&g.count, &f.count, "_count"}} {
			if *part.at >= 0 {
				continue
			}
			ls := p.relabel(base, f.partName(part.s, part.suffix), "")
			*part.at = int32(len(p.samples))
			p.samples = append(p.samples, Sample{Labels: ls, T: g.t, Family: g.fam})
			p.groupOf = append(p.groupOf, int32(gi))
			f.n++
		}
	}
	if p.anyT {
		for i := range p.samples {
			if gi := p.groupOf[i]; gi >= 0 && p.groups[gi].hasT {
				p.samples[i].T = p.groups[gi].t
			}
		}
	}
	b := &Batch{Samples: p.samples}
	remap := make([]int32, len(p.fams))
	for i := range p.fams {
		f := &p.fams[i]
		if f.n == 0 {
			remap[i] = -1
			continue
		}
		if u, ok := p.units[f.Name]; ok {
			f.Unit = u
		}
		remap[i] = int32(len(b.Families))
		b.Families = append(b.Families, f.Family)
	}
	sorted := true
	for i := range b.Samples {
		s := &b.Samples[i]
		s.Family = remap[s.Family]
		if i > 0 && s.Family < b.Samples[i-1].Family {
			sorted = false
		}
	}
	if !sorted {
		slices.SortStableFunc(b.Samples, func(x, y Sample) int { return int(x.Family) - int(y.Family) })
	}
	return b
}

// Token readers. Each starts at p.cur and leaves in p.cur the first byte
// after the token; p.tok is the token, unescaped.

func (p *parser) untilBlank() {
	p.startTok()
	if p.err != nil {
		return
	}
	i := p.pos - 1
	j := i
	for j < len(p.text) && !isBlank(p.text[j]) && p.text[j] != '\n' {
		j++
	}
	p.tok = p.text[i:j]
	p.resume(j)
}

// resume makes text[j] the current byte (or the end of the text): the
// fast paths' way back into the byte-at-a-time reader.
func (p *parser) resume(j int) {
	if j >= len(p.text) {
		p.pos, p.cur, p.err = len(p.text), 0, errEOF
		return
	}
	p.pos, p.cur = j+1, p.text[j]
}

// untilNewline reads the rest of the line. With escapes, \\, \n and \" are
// read as in HELP text; without, a backslash is dropped (as expfmt does).
func (p *parser) untilNewline(escapes bool) {
	p.startTok()
	escaped := false
	for p.err == nil {
		if escapes && escaped {
			if !p.addEscaped() {
				return
			}
			escaped = false
		} else {
			switch p.cur {
			case '\n':
				return
			case '\\':
				escaped = true
			default:
				p.add(p.cur)
			}
		}
		p.next()
	}
}

// addEscaped adds the byte that a backslash followed by p.cur stands for.
// HELP text, quoted names and label values know the same three escapes
// (\\, \n, \"); any other fails the line, as expfmt does, and addEscaped
// reports false.
func (p *parser) addEscaped() bool {
	switch p.cur {
	case '\\', '"':
		p.add(p.cur)
	case 'n':
		p.add('\n')
	default:
		p.fail(fmt.Sprintf("invalid escape sequence '\\%c'", p.cur))
		return false
	}
	return true
}

func isNameStart(b byte) bool {
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '_' || b == '"'
}

func isNameByte(b byte, metric bool) bool {
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '_' || (b >= '0' && b <= '9') || (metric && b == ':')
}

func (p *parser) metricNameTok() { p.nameTok(true) }

func (p *parser) labelNameTok() { p.nameTok(false) }

// nameTok reads a metric (metric true) or label name, quoted or not.
func (p *parser) nameTok(metric bool) {
	p.startTok()
	start := func(b byte) bool { return isNameStart(b) || (metric && b == ':') }
	if !start(p.cur) {
		return
	}
	// The common case, an unquoted name: a slice of the text.
	if p.cur != '"' {
		i := p.pos - 1
		j := i
		for j < len(p.text) && isNameByte(p.text[j], metric) {
			j++
		}
		if j >= len(p.text) || p.text[j] != '"' {
			p.tok = p.text[i:j]
			p.resume(j)
			return
		}
	}
	what := "label name"
	stop := byte('=')
	if metric {
		what, stop = "metric name", ' '
	}
	quoted, escaped := false, false
	for p.err == nil {
		if escaped {
			if !p.addEscaped() {
				return
			}
			escaped = false
		} else {
			switch p.cur {
			case '"':
				quoted = !quoted
				if !quoted {
					p.next()
					return
				}
			case '\n':
				p.fail(fmt.Sprintf("%s %q contains unescaped new-line", what, p.tok))
				return
			case '\\':
				escaped = true
			default:
				p.add(p.cur)
			}
		}
		p.next()
		// Quoted, any byte continues the name.
		if !quoted && (!(start(p.cur) || (p.cur >= '0' && p.cur <= '9')) || p.cur == stop) {
			return
		}
	}
}

func (p *parser) labelValueTok() {
	p.startTok()
	// The common case, no escapes: a slice of the text.
	i := p.pos
	j := i
	for j < len(p.text) && p.text[j] != '"' && p.text[j] != '\\' && p.text[j] != '\n' {
		j++
	}
	if j < len(p.text) && p.text[j] == '"' {
		p.tok = p.text[i:j]
		p.resume(j)
		return
	}
	escaped := false
	for {
		if p.next(); p.err != nil {
			return
		}
		if escaped {
			if !p.addEscaped() {
				return
			}
			escaped = false
			continue
		}
		switch p.cur {
		case '"':
			return
		case '\n':
			p.fail(fmt.Sprintf("label value %q contains unescaped new-line", p.tok))
			return
		case '\\':
			escaped = true
		default:
			p.add(p.cur)
		}
	}
}
