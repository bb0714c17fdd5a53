// Package merge turns what a job's collectors printed into the series
// batch the job's outputs send: parse each collector's exposition text
// once (series.Parse, which accepts what expfmt accepts), apply the merge
// rules below, and add the per-collector status series that Prometheus
// cannot derive for pushed metrics (success, duration, samples).
//
// Rules (also in docs/merge-rules.md), applied per collector in config
// order, so the first collector wins every conflict:
//
//   - Output that does not parse fails the collector: success 0, none of
//     its samples are pushed. So does output with more series than the
//     collector's series_limit.
//   - A sample label that is the job label or a grouping label would be
//     rejected by the Pushgateway; it is renamed to exported_<name>, the
//     convention Prometheus uses for clashing target labels.
//   - The collector's configured labels are added to every sample; a sample
//     label of the same name is renamed to exported_<name>.
//   - Families named pushagent_* (ours) are dropped.
//   - Timestamps are kept: what an output cannot take is its own business
//     (the Pushgateway output drops them and the gateway's own
//     push_time_seconds families; remote_write sends them).
//   - A family whose type or help differs from the same family emitted by
//     an earlier collector is dropped; so is a series (same name and
//     labels) already emitted by an earlier collector or earlier in the
//     same output. These are client_golang's prometheus.Gatherers checks,
//     which the push applies; the merge applies them on the batch, in the
//     same order (FuzzMergeMatchesReference holds the two together).
//
// Every rule that changes or drops data logs one line per collector and
// run naming the job, collector and rule, and dropped samples are counted
// in pushagent_collector_dropped_samples. One collector's bad output never
// blocks the push of the others.
//
// This package must never fail a whole job because of one collector.
package merge

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushagent/pushagent/agent/series"
)

// Result is one collector's run, as input to Merge.
type Result struct {
	// Collector is the collector's name; it becomes the collector label of
	// the status series.
	Collector string
	// Plugin is the plugin file or endpoint, for messages.
	Plugin string
	// Labels are added to every sample of the collector.
	Labels map[string]string
	// SeriesLimit fails the collector when its output has more series (a
	// histogram or summary counts once); 0 is no limit.
	SeriesLimit int
	// Output is the plugin's stdout (exposition text). Ignored when Err is
	// set: a failed run's output is never pushed.
	Output []byte
	// Err is why the run failed, nil on success.
	Err error
	// Duration is how long the run took.
	Duration time.Duration
	// Relabel, when set, applies the collector's relabel_configs to its
	// parsed series, before its series_limit and the rules below (as
	// Prometheus applies metric_relabel_configs before sample_limit). It
	// must not change the batch it is given.
	Relabel func(*series.Batch) *series.Batch
}

// Status is what Merge concluded about one collector.
type Status struct {
	Collector string
	// Success is false when the run failed or its output did not parse.
	Success bool
	// Err explains a failure.
	Err error
	// Samples is the number of series the collector contributed to the
	// push (a histogram or summary counts once).
	Samples int
	// Dropped is the number of series dropped by the merge rules.
	Dropped  int
	Duration time.Duration
}

// Job merges the results of one job's run. Reserved holds the label names
// samples must not carry: "job" and the job's grouping label names.
type Job struct {
	Name     string
	Reserved []string
	Logger   *slog.Logger
}

// Status series names: the "up" Prometheus can't give pushed metrics.
const (
	SuccessName  = "pushagent_collector_success"
	DurationName = "pushagent_collector_duration_seconds"
	SamplesName  = "pushagent_collector_samples"
	DroppedName  = "pushagent_collector_dropped_samples"
)

// ErrSeriesLimit marks output with more series than the collector's
// series_limit (for errors.Is).
var ErrSeriesLimit = errors.New("too many series")

// ErrBadOutput marks output that is not exposition text (for errors.Is).
var ErrBadOutput = errors.New("output is not valid Prometheus text exposition format")

// ParseText parses exposition text with expfmt into client_model
// families. Names must be valid in the classic (legacy) scheme, which is
// what Pushgateways before 1.10 accept. The merge itself parses with
// series.Parse; ParseText is the reference the tests and benchmarks hold
// it to.
func ParseText(text []byte) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return nil, explainParse(text, err)
	}
	return fams, nil
}

// Merge is MergeBatch in client_model's shape: the families expfmt would
// have parsed of the same output, with the same rules applied.
func (j Job) Merge(results []Result) ([]*dto.MetricFamily, []Status) {
	b, statuses := j.MergeBatch(results)
	return b.MetricFamilies(series.DTOOptions{}), statuses
}

// MergeBatch applies the rules in the package doc and returns the job's
// batch, families sorted by name, including the status series, and each
// collector's status in input order. Each collector's output is parsed
// once, by series.Parse.
func (j Job) MergeBatch(results []Result) (*series.Batch, []Status) {
	logger := j.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := merger{
		collectors: len(results),
		job:        j.Name,
		reserved:   append([]string{"job"}, j.Reserved...),
		families:   map[string]registered{},
		seed:       seed,
	}
	statuses := make([]Status, len(results))
	for i, r := range results {
		st := &statuses[i]
		st.Collector, st.Duration = r.Collector, r.Duration
		if r.Err != nil {
			st.Err = r.Err
			continue
		}
		log := logger.With("job", j.Name, "collector", r.Collector)
		b, err := series.Parse(r.Output)
		if err != nil {
			err = explainParse(r.Output, err)
			st.Err = fmt.Errorf("job %q collector %q: plugin %s: %w", j.Name, r.Collector, r.Plugin, err)
			log.Warn("collector output rejected", "plugin", r.Plugin, "err", err)
			continue
		}
		if r.Relabel != nil {
			b = r.Relabel(b)
		}
		if n := b.Series(); r.SeriesLimit > 0 && n > r.SeriesLimit {
			st.Err = fmt.Errorf("job %q collector %q: plugin %s: %w: %d series, over the collector's series_limit of %d (raise series_limit if they are all wanted, or have the plugin return fewer)",
				j.Name, r.Collector, r.Plugin, ErrSeriesLimit, n, r.SeriesLimit)
			log.Warn("collector output rejected", "plugin", r.Plugin, "err", st.Err)
			continue
		}
		st.Success = true
		m.add(i, r, b, st, log)
	}
	return m.batch(statuses), statuses
}

// seed keys the hashes of series seen in a run; one per process is enough
// (a run's hashes never leave it).
var seed = maphash.MakeSeed()

// registered is a family name as the first collector to emit it gave it:
// later collectors must agree on its help and type.
type registered struct {
	help string
	typ  model.MetricType
}

// segment is one collector's samples of one family in merger.out.
type segment struct {
	fam        *series.Family
	start, end int
}

type merger struct {
	collectors int
	job        string
	reserved   []string
	seed       maphash.Seed
	// seen maps each series accepted so far, by a 64-bit hash of its
	// family name and labels (but le or quantile), to the index of the
	// collector that emitted it. A hash keeps the check free of an
	// allocation per series, on every run; client_golang's own uniqueness
	// check is a 64-bit hash too.
	seen     map[uint64]int
	families map[string]registered
	out      []series.Sample
	segments []segment
	sb       labels.ScratchBuilder
	names    []string // the collectors, by index, for messages
}

// add applies the rules to one collector's batch, in the order the
// Gatherers pass of client_golang (which the push applies) would: its
// families by name, each checked against the families of earlier
// collectors, each series against the series seen before.
func (m *merger) add(ci int, r Result, b *series.Batch, st *Status, log *slog.Logger) {
	for len(m.names) <= ci {
		m.names = append(m.names, "")
	}
	m.names[ci] = r.Collector
	if m.seen == nil {
		// Sized for the first collector's series: a 10,000-series job
		// otherwise grows the map a dozen times per run.
		m.seen = make(map[uint64]int, len(b.Samples))
		m.out = make([]series.Sample, 0, len(b.Samples)+len(statusSeries)*m.collectors)
	}
	extraNames := sortedKeys(r.Labels)
	order := make([]int, len(b.Families))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return strings.Compare(b.Families[x].Name, b.Families[y].Name) })
	starts := make([]int, len(b.Families)+1)
	for i := range b.Samples {
		starts[b.Samples[i].Family+1]++
	}
	for i := 1; i < len(starts); i++ {
		starts[i] += starts[i-1]
	}
	renamed := map[string]int{}
	var droppedFam, clashes []string
	repeats, firstFrom, lost := 0, -1, 0
	for _, fi := range order {
		fam := &b.Families[fi]
		samples := b.Samples[starts[fi]:starts[fi+1]]
		if strings.HasPrefix(fam.Name, "pushagent_") {
			for k := range samples {
				if b.IsSeriesHead(&samples[k]) {
					st.Dropped++
				}
			}
			droppedFam = append(droppedFam, fam.Name)
			continue
		}
		special := ""
		switch fam.Type {
		case model.MetricTypeHistogram, model.MetricTypeGaugeHistogram:
			special = model.BucketLabel
		case model.MetricTypeSummary:
			special = model.QuantileLabel
		}
		seg := segment{fam: fam, start: len(m.out)}
		var clash string
		for k := range samples {
			s := samples[k]
			head := b.IsSeriesHead(&s)
			if ls, err := m.relabel(s.Labels, m.reserved, r.Labels, extraNames, special, renamed); err != "" {
				if clash == "" {
					clash = fmt.Sprintf("collected metric %q %s", fam.Name, err)
				}
				if head {
					lost++
				}
				continue
			} else {
				s.Labels = ls
			}
			key := m.key(fam.Name, s.Labels, special)
			if by, ok := m.seen[key]; ok && (by != ci || special == "") {
				if head {
					if repeats == 0 {
						firstFrom = by
					}
					repeats++
				}
				continue
			}
			m.seen[key] = ci
			if head {
				st.Samples++
			}
			m.out = append(m.out, s)
		}
		if clash != "" {
			clashes = append(clashes, clash)
		}
		seg.end = len(m.out)
		if err := m.register(fam); err != "" {
			clashes = append(clashes, err)
			for k := seg.start; k < seg.end; k++ {
				if b.IsSeriesHead(&m.out[k]) {
					lost++
					st.Samples--
				}
			}
			m.out = m.out[:seg.start]
			continue
		}
		if seg.end > seg.start {
			m.segments = append(m.segments, seg)
		}
	}
	for _, name := range sortedKeys(renamed) {
		log.Warn("merge rule: label renamed to exported_"+name+" (it is the job label, a grouping label or a collector label)", "label", name, "samples", renamed[name])
	}
	if len(droppedFam) > 0 {
		log.Warn("merge rule: reserved metric names dropped (pushagent_* is the agent's)", "families", strings.Join(droppedFam, ","))
	}
	if repeats > 0 {
		st.Dropped += repeats
		log.Warn("merge rule: series dropped because they repeat series of an earlier collector or of this output (first wins)",
			"series", repeats, "first_from", m.names[firstFrom])
	}
	if len(clashes) > 0 {
		st.Dropped += lost
		log.Warn("merge rule: series dropped because they clash with earlier collectors or repeat within the output (first wins)", "err", summarize(clashes))
	}
}

// register checks a family against the families of earlier collectors as
// client_golang's Gatherers does: the same help and type as the first of
// its name, and no name that a histogram or summary of another family
// would expose (name_sum, name_count, name_bucket). It returns the clash,
// in client_golang's words, or "".
func (m *merger) register(f *series.Family) string {
	if prev, ok := m.families[f.Name]; ok {
		if prev.help != f.Help {
			return fmt.Sprintf("gathered metric family %s has help %q but should have %q", f.Name, f.Help, prev.help)
		}
		if prev.typ != f.Type {
			return fmt.Sprintf("gathered metric family %s has type %s but should have %s", f.Name, series.DTOType(f.Type), series.DTOType(prev.typ))
		}
		return ""
	}
	name, t := f.Name, series.DTOType(f.Type)
	base := ""
	switch {
	case strings.HasSuffix(name, "_count"):
		base = name[:len(name)-6]
	case strings.HasSuffix(name, "_sum"):
		base = name[:len(name)-4]
	case strings.HasSuffix(name, "_bucket"):
		base = name[:len(name)-7]
	}
	if prev, ok := m.families[base]; ok && base != "" {
		switch series.DTOType(prev.typ) {
		case dto.MetricType_SUMMARY:
			if !strings.HasSuffix(name, "_bucket") {
				return fmt.Sprintf("collected metric named %q collides with previously collected summary named %q", name, base)
			}
		case dto.MetricType_HISTOGRAM:
			return fmt.Sprintf("collected metric named %q collides with previously collected histogram named %q", name, base)
		}
	}
	if t == dto.MetricType_SUMMARY || t == dto.MetricType_HISTOGRAM {
		for _, suffix := range []string{"_count", "_sum"} {
			if _, ok := m.families[name+suffix]; ok {
				return fmt.Sprintf("collected histogram or summary named %q collides with previously collected metric named %q", name, name+suffix)
			}
		}
	}
	if _, ok := m.families[name+"_bucket"]; ok && t == dto.MetricType_HISTOGRAM {
		return fmt.Sprintf("collected histogram named %q collides with previously collected metric named %q", name, name+"_bucket")
	}
	m.families[name] = registered{help: f.Help, typ: f.Type}
	return ""
}

// relabel renames a series' labels that are the job label, a grouping
// label or a collector label to exported_<name>, and adds the collector
// labels. special (le, quantile) is the histogram's or summary's own and is
// left alone. It returns a clash, in client_golang's words, when the result
// would have a label twice or a collector label named like special.
func (m *merger) relabel(ls labels.Labels, reserved []string, extra map[string]string, extraNames []string, special string, renamed map[string]int) (labels.Labels, string) {
	change := len(extra) > 0
	if !change {
		ls.Range(func(l labels.Label) {
			if l.Name != special && slices.Contains(reserved, l.Name) {
				change = true
			}
		})
		if !change {
			return ls, ""
		}
	}
	if special != "" && hasKey(extra, special) {
		return ls, fmt.Sprintf("must not have an explicit %q label", special)
	}
	m.sb.Reset()
	ls.Range(func(l labels.Label) {
		if l.Name != special && l.Name != model.MetricNameLabel && (slices.Contains(reserved, l.Name) || hasKey(extra, l.Name)) {
			renamed[l.Name]++
			m.sb.Add("exported_"+l.Name, l.Value)
			return
		}
		m.sb.Add(l.Name, l.Value)
	})
	for _, n := range extraNames {
		m.sb.Add(n, extra[n])
	}
	m.sb.Sort()
	out := m.sb.Labels()
	if name, dup := out.HasDuplicateLabelNames(); dup {
		return ls, fmt.Sprintf("has two or more labels with the same name: %s", name)
	}
	return out, ""
}

// key hashes a series' identity: its family and labels but its name and
// its histogram's or summary's le or quantile.
func (m *merger) key(family string, ls labels.Labels, special string) uint64 {
	if special == "" {
		// A counter's, gauge's or untyped series' name is its family's:
		// its labels are its identity, hashed in one pass.
		return ls.Hash()
	}
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(family)
	ls.Range(func(l labels.Label) {
		if l.Name == model.MetricNameLabel || l.Name == special {
			return
		}
		h.WriteByte(0xff)
		h.WriteString(l.Name)
		h.WriteByte(0xfe)
		h.WriteString(l.Value)
	})
	return h.Sum64()
}

// batch assembles the accepted segments by family name (a family's series
// in collector order) and adds the status series.
func (m *merger) batch(statuses []Status) *series.Batch {
	// The status series, a segment per family like any collector's. They
	// cannot clash with plugin families (pushagent_* are dropped).
	byName := make([]int, len(statuses))
	for i := range byName {
		byName[i] = i
	}
	slices.SortStableFunc(byName, func(x, y int) int { return strings.Compare(statuses[x].Collector, statuses[y].Collector) })
	for k, ss := range statusSeries {
		seg := segment{fam: &statusFamilies[k], start: len(m.out)}
		for _, i := range byName {
			st := statuses[i]
			m.out = append(m.out, series.Sample{Labels: labels.FromStrings(model.MetricNameLabel, ss.name, "collector", st.Collector), Value: ss.value(st)})
		}
		seg.end = len(m.out)
		m.segments = append(m.segments, seg)
	}
	slices.SortStableFunc(m.segments, func(a, b segment) int { return strings.Compare(a.fam.Name, b.fam.Name) })
	// When the segments are already in order (one collector whose
	// families sort before pushagent_, or collectors without common
	// families in name order), the samples stay where they are.
	inPlace := true
	for i, seg := range m.segments {
		if (i == 0 && seg.start != 0) || (i > 0 && seg.start != m.segments[i-1].end) {
			inPlace = false
		}
	}
	b := &series.Batch{Families: make([]series.Family, 0, len(m.segments))}
	if inPlace {
		b.Samples = m.out
	} else {
		b.Samples = make([]series.Sample, 0, len(m.out))
	}
	for i, seg := range m.segments {
		if i == 0 || seg.fam.Name != m.segments[i-1].fam.Name {
			b.Families = append(b.Families, *seg.fam)
		}
		fi := int32(len(b.Families) - 1)
		if inPlace {
			for k := seg.start; k < seg.end; k++ {
				m.out[k].Family = fi
			}
			continue
		}
		for _, s := range m.out[seg.start:seg.end] {
			s.Family = fi
			b.Samples = append(b.Samples, s)
		}
	}
	return b
}

// statusSeries are the per-collector status families, in name order.
var statusSeries = []struct {
	name, help string
	value      func(Status) float64
}{
	{DroppedName, "Series of the collector's output dropped by the merge rules (see docs/merge-rules.md).", func(s Status) float64 { return float64(s.Dropped) }},
	{DurationName, "How long the collector's last run took.", func(s Status) float64 { return s.Duration.Seconds() }},
	{SamplesName, "Series the collector contributed to this push (a histogram or summary counts once).", func(s Status) float64 { return float64(s.Samples) }},
	{SuccessName, "Whether the collector's last run succeeded (1) or failed (0): the up that pushed metrics lack.", func(s Status) float64 {
		if s.Success {
			return 1
		}
		return 0
	}},
}

// statusFamilies are statusSeries' families, made once.
var statusFamilies = func() []series.Family {
	fams := make([]series.Family, len(statusSeries))
	for i, ss := range statusSeries {
		fams[i] = series.Family{Name: ss.name, Type: model.MetricTypeGauge, Help: ss.help}
	}
	return fams
}()

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// summarize keeps a clash log line readable when many series clash.
func summarize(errs []string) string {
	if len(errs) > 3 {
		return fmt.Sprintf("%s; %s; %s; and %d more", errs[0], errs[1], errs[2], len(errs)-3)
	}
	return strings.Join(errs, "; ")
}
