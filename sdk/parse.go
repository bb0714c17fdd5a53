package sdk

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseText parses Prometheus text format 0.0.4, such as a *.prom file or
// a /metrics response, into families in the order their names first
// appear. It accepts what the agent's own parser accepts (that of
// prometheus/common/expfmt with the classic character set), with the same
// results, so that a plugin relaying text never hands the agent output the
// agent refuses. Its error names the line:
//
//	sdk: text format: line 3: expected float as value, got "twelve"
//
// The rules, as the agent applies them:
//
//   - Every line ends with a newline, the last one too. Blank lines and
//     comments other than HELP and TYPE are ignored.
//   - A family has at most one HELP and one TYPE line, and its TYPE line
//     comes before its samples; a family without one is untyped.
//   - Samples of a family may be spread over the text; a family's samples
//     keep their order.
//   - A histogram foo has foo_bucket samples with an "le" label, foo_sum
//     and foo_count; a summary foo has foo samples with a "quantile" label,
//     foo_sum and foo_count. A foo_sum or foo_count line belongs to such a
//     family only if it was declared before the line; otherwise it starts
//     a family of its own.
//   - Names use the classic character set; label values are valid UTF-8;
//     a label name appears once per sample; values are Go floats or NaN,
//     +Inf, -Inf; timestamps are integers (milliseconds).
//
// ParseText is stricter than the agent in a few corners that no exposition
// writer produces, so that what it accepts is never misread: quoted names
// and names inside the braces, a histogram sample without its le label or a
// summary sample without its quantile (which the agent would silently
// drop), le or quantile on a _sum or _count sample, NaN as le or quantile,
// and the gauge histogram type, which text format 0.0.4 does not have.
//
// ParseText only parses: the SDK's own rules (reserved label names, no
// timestamps, cumulative buckets, …) are checked by Collection.AddFamily.
func ParseText(text []byte) ([]*Family, error) {
	p := textParser{byName: make(map[string]*parsedFamily), names: make(map[string]string)}
	for len(text) > 0 {
		p.line++
		end := bytes.IndexByte(text, '\n')
		if end < 0 {
			if len(bytes.Trim(text, " \t")) > 0 {
				return nil, p.errorf("unexpected end of input: the last line does not end with a newline")
			}
			break
		}
		if err := p.parseLine(text[:end]); err != nil {
			return nil, err
		}
		text = text[end+1:]
	}
	fams := make([]*Family, 0, len(p.order))
	for _, f := range p.order {
		// A HELP or TYPE line alone makes no family, as for the agent.
		if len(f.Samples) > 0 {
			fams = append(fams, &f.Family)
		}
	}
	return fams, nil
}

type textParser struct {
	line   int
	byName map[string]*parsedFamily
	order  []*parsedFamily
	// labels is an arena the samples' label slices are cut from, and names
	// interns label and sample names: a long text repeats few of them, and
	// a relaying plugin parses on every run.
	labels []Label
	names  map[string]string
}

// intern returns b as a string, the same string for the same bytes.
func (p *textParser) intern(b []byte) string {
	if s, ok := p.names[string(b)]; ok {
		return s
	}
	s := string(b)
	p.names[s] = s
	return s
}

// parsedFamily is a family being parsed. typed and helped say whether the
// family's TYPE and HELP are settled: a TYPE or HELP line, or (for the
// type) a first sample.
type parsedFamily struct {
	Family
	typed, helped bool
}

// Which sample of its family a line is.
type sampleKind uint8

const (
	kindValue  sampleKind = iota // counter, gauge and untyped values; summary quantiles
	kindBucket                   // histogram foo_bucket
	kindSum
	kindCount
)

func (p *textParser) errorf(format string, args ...any) error {
	return fmt.Errorf("sdk: text format: line %d: %s", p.line, fmt.Sprintf(format, args...))
}

// lookup finds the family a name on a line belongs to, as the agent does:
// the family of that exact name, else the summary or histogram that the
// name is a _sum, _count (or _bucket) of, else a new family.
func (p *textParser) lookup(name string) (*parsedFamily, sampleKind) {
	if f, ok := p.byName[name]; ok {
		return f, kindValue
	}
	for _, sfx := range [...]struct {
		s    string
		kind sampleKind
	}{{"_sum", kindSum}, {"_count", kindCount}, {"_bucket", kindBucket}} {
		base, ok := cutSuffix(name, sfx.s)
		if !ok {
			continue
		}
		if f, ok := p.byName[base]; ok && f.typed && (f.Type == TypeHistogram || f.Type == TypeSummary && sfx.kind != kindBucket) {
			return f, sfx.kind
		}
	}
	f := &parsedFamily{Family: Family{Name: name}}
	p.byName[name] = f
	p.order = append(p.order, f)
	return f, kindValue
}

func skipBlanks(line []byte, i int) int {
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return i
}

// metricNameEnd returns the end of the metric name starting at i, i if
// there is none.
func metricNameEnd(line []byte, i int) int {
	if i >= len(line) || !(isNameStart(line[i]) || line[i] == ':') {
		return i
	}
	for i++; i < len(line) && (isNameByte(line[i]) || line[i] == ':'); i++ {
	}
	return i
}

func (p *textParser) parseLine(line []byte) error {
	i := skipBlanks(line, 0)
	switch {
	case i == len(line):
		return nil
	case line[i] == '#':
		return p.parseComment(line, i+1)
	case line[i] == '{':
		return p.errorf("a metric name inside the braces is not supported; write it before them")
	}
	return p.parseSample(line, i)
}

func (p *textParser) parseComment(line []byte, i int) error {
	i = skipBlanks(line, i)
	start := i
	for i < len(line) && line[i] != ' ' && line[i] != '\t' {
		i++
	}
	keyword := string(line[start:i])
	if i == len(line) || keyword != "HELP" && keyword != "TYPE" {
		return nil // any other comment
	}
	i = skipBlanks(line, i)
	end := metricNameEnd(line, i)
	if end == len(line) {
		return nil // "# HELP foo" with nothing after the name says nothing
	}
	if end == i || line[end] != ' ' && line[end] != '\t' {
		return p.errorf("invalid metric name in %s line", keyword)
	}
	f, _ := p.lookup(p.intern(line[i:end]))
	i = skipBlanks(line, end)
	if i == len(line) {
		return nil
	}
	if keyword == "HELP" {
		if f.helped {
			return p.errorf("second HELP line for metric name %q", f.Name)
		}
		help, err := unescape(line[i:])
		if err != nil {
			return p.errorf("HELP of %q: %v", f.Name, err)
		}
		f.Help, f.helped = help, true
		return nil
	}
	if f.typed {
		return p.errorf("second TYPE line for metric name %q, or TYPE reported after samples", f.Name)
	}
	// The agent tolerates any case (and Unicode case folding).
	switch t := strings.ToUpper(string(line[i:])); t {
	case "COUNTER":
		f.Type = TypeCounter
	case "GAUGE":
		f.Type = TypeGauge
	case "UNTYPED":
		f.Type = TypeUntyped
	case "HISTOGRAM":
		f.Type = TypeHistogram
	case "SUMMARY":
		f.Type = TypeSummary
	case "GAUGE_HISTOGRAM", "GAUGEHISTOGRAM":
		return p.errorf("metric type %q of %q is not supported by text format 0.0.4", line[i:], f.Name)
	default:
		return p.errorf("unknown metric type %q", line[i:])
	}
	f.typed = true
	return nil
}

func (p *textParser) parseSample(line []byte, i int) error {
	end := metricNameEnd(line, i)
	if end == i {
		return p.errorf("invalid metric name")
	}
	if end == len(line) || line[end] != '{' && line[end] != ' ' && line[end] != '\t' {
		if end < len(line) && line[end] == '"' {
			return p.errorf("quoted metric names are not supported")
		}
		return p.errorf("metric name %q must be followed by labels or a blank and the value", line[i:end])
	}
	s := Sample{Name: p.intern(line[i:end])}
	f, kind := p.lookup(s.Name)
	if !f.typed {
		f.Type, f.typed = TypeUntyped, true
	}
	i = skipBlanks(line, end)
	var special string // the value of le or quantile, if the type claims it
	hasSpecial := false
	if i < len(line) && line[i] == '{' {
		var err error
		lo := len(p.labels)
		if i, err = p.parseLabels(line, i+1, f, lo); err != nil {
			return err
		}
		// A full slice expression, so that a plugin appending to one
		// sample's labels cannot overwrite the next sample's.
		if len(p.labels) > lo {
			s.Labels = p.labels[lo:len(p.labels):len(p.labels)]
		}
		if claimed := reservedLabel(f.Type); claimed != "" {
			for _, l := range s.Labels {
				if l.Name == claimed {
					special, hasSpecial = l.Value, true
				}
			}
		}
	}
	start := i
	for i < len(line) && line[i] != ' ' && line[i] != '\t' {
		i++
	}
	v, err := parseFloat(string(line[start:i]))
	if err != nil {
		return p.errorf("expected float as value, got %q", line[start:i])
	}
	s.Value = v
	if i < len(line) {
		i = skipBlanks(line, i)
		start = i
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		ts, err := strconv.ParseInt(string(line[start:i]), 10, 64)
		if err != nil {
			return p.errorf("expected integer as timestamp, got %q", line[start:i])
		}
		if i < len(line) {
			return p.errorf("spurious string after timestamp: %q", line[i:])
		}
		s.TimestampMs, s.HasTimestamp = ts, true
	}
	if err := p.checkKind(f, kind, &s, special, hasSpecial); err != nil {
		return err
	}
	f.Samples = append(f.Samples, s)
	return nil
}

// checkKind refuses a sample that the agent would drop or file under
// another meaning than its name says, and negative histogram counts, which
// the agent refuses.
func (p *textParser) checkKind(f *parsedFamily, kind sampleKind, s *Sample, special string, hasSpecial bool) error {
	switch f.Type {
	case TypeHistogram:
		switch {
		case kind == kindValue:
			return p.errorf("sample %q of histogram %q must be named %s_bucket, %s_sum or %s_count", s.Name, f.Name, f.Name, f.Name, f.Name)
		case kind == kindBucket && !hasSpecial:
			return p.errorf("histogram bucket %q has no le label", s.Name)
		case kind != kindBucket && hasSpecial:
			return p.errorf("sample %q of histogram %q must not have an le label", s.Name, f.Name)
		case kind != kindSum && s.Value < 0:
			return p.errorf("negative count %v in histogram %q", s.Value, f.Name)
		}
		if kind == kindBucket {
			if b, _ := parseFloat(special); math.IsNaN(b) {
				return p.errorf("histogram bucket %q has le=%q", s.Name, special)
			}
		}
	case TypeSummary:
		switch {
		case kind == kindValue && !hasSpecial:
			return p.errorf("sample %q of summary %q has no quantile label", s.Name, f.Name)
		case kind != kindValue && hasSpecial:
			return p.errorf("sample %q of summary %q must not have a quantile label", s.Name, f.Name)
		}
		if kind == kindValue {
			if q, _ := parseFloat(special); math.IsNaN(q) {
				return p.errorf("summary sample %q has quantile=%q", s.Name, special)
			}
		}
	}
	return nil
}

// parseLabels parses the label set starting after '{' into p.labels, after
// lo, and returns the index after the closing '}' and any blanks.
func (p *textParser) parseLabels(line []byte, i int, f *parsedFamily, lo int) (int, error) {
	for {
		i = skipBlanks(line, i)
		if i < len(line) && line[i] == '}' {
			return skipBlanks(line, i+1), nil
		}
		start := i
		if i < len(line) && isNameStart(line[i]) {
			for i++; i < len(line) && isNameByte(line[i]); i++ {
			}
		}
		if i == start {
			return 0, p.errorf("invalid label name for metric %q", f.Name)
		}
		if i < len(line) && line[i] == '"' {
			return 0, p.errorf("quoted label names are not supported")
		}
		name := p.intern(line[start:i])
		i = skipBlanks(line, i)
		if i == len(line) || line[i] != '=' {
			return 0, p.errorf("expected '=' after label name %q", name)
		}
		if name == "__name__" {
			return 0, p.errorf("label name %q is reserved", name)
		}
		for _, l := range p.labels[lo:] {
			if l.Name == name {
				return 0, p.errorf("duplicate label names for metric %q", f.Name)
			}
		}
		i = skipBlanks(line, i+1)
		if i == len(line) || line[i] != '"' {
			return 0, p.errorf("expected '\"' at start of label value of %q", name)
		}
		i++
		end := i
		for end < len(line) && line[end] != '"' {
			if line[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(line) {
			return 0, p.errorf("label value of %q contains an unescaped new-line or no closing quote", name)
		}
		value, err := unescape(line[i:end])
		if err != nil {
			return 0, p.errorf("label value of %q: %v", name, err)
		}
		if !utf8.ValidString(value) {
			return 0, p.errorf("invalid label value %q", value)
		}
		if name == reservedLabel(f.Type) {
			if _, err := parseFloat(value); err != nil {
				return 0, p.errorf("expected float as value for %q label, got %q", name, value)
			}
		}
		p.labels = append(p.labels, Label{Name: name, Value: value})
		i = skipBlanks(line, end+1)
		switch {
		case i < len(line) && line[i] == ',':
			i++
		case i < len(line) && line[i] == '}':
			return skipBlanks(line, i+1), nil
		default:
			return 0, p.errorf("unexpected end of label value %q", value)
		}
	}
}

// unescape resolves \\, \n and \" (the only escapes the format has) in a
// help text or label value.
func unescape(b []byte) (string, error) {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b), nil
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			out = append(out, b[i])
			continue
		}
		i++
		if i == len(b) {
			return "", errors.New("invalid escape sequence at the end of the line")
		}
		switch b[i] {
		case '\\', '"':
			out = append(out, b[i])
		case 'n':
			out = append(out, '\n')
		default:
			return "", fmt.Errorf("invalid escape sequence '\\%c'", b[i])
		}
	}
	return string(out), nil
}

// parseFloat reads a value as the agent does: Go's float syntax without
// hexadecimal exponents or underscores, and NaN or ±Inf in any case.
func parseFloat(s string) (float64, error) {
	if strings.ContainsAny(s, "pP_") {
		return 0, errors.New("unsupported character in float")
	}
	return strconv.ParseFloat(s, 64)
}
