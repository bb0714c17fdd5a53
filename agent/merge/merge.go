// Package merge turns what a job's collectors printed into the metric
// families the job pushes: parse each collector's exposition text with
// expfmt, apply the merge rules below, and add the per-collector status
// series that Prometheus cannot derive for pushed metrics (success,
// duration, samples).
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
//     same output. client_golang's prometheus.Gatherers applies these
//     checks, exactly as the push would.
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

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"
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

// ParseText parses exposition text. Names must be valid in the classic
// (legacy) scheme, which is what Pushgateways before 1.10 accept.
func ParseText(text []byte) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return nil, explainParse(text, err)
	}
	return fams, nil
}

// Merge applies the rules in the package doc and returns the families to
// push, sorted by name, including the status series, and each collector's
// status in input order.
func (j Job) Merge(results []Result) ([]*dto.MetricFamily, []Status) {
	logger := j.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reserved := map[string]bool{"job": true}
	for _, r := range j.Reserved {
		reserved[r] = true
	}
	statuses := make([]Status, len(results))
	logs := make([]*slog.Logger, len(results))
	prepared := make([][]*dto.MetricFamily, len(results))
	var all prometheus.Gatherers
	seen := newSeenSeries()
	for i, r := range results {
		st := &statuses[i]
		st.Collector, st.Duration = r.Collector, r.Duration
		logs[i] = logger.With("job", j.Name, "collector", r.Collector)
		if r.Err != nil {
			st.Err = r.Err
			continue
		}
		fams, err := ParseText(r.Output)
		if err != nil {
			st.Err = fmt.Errorf("job %q collector %q: plugin %s: %w", j.Name, r.Collector, r.Plugin, err)
			logs[i].Warn("collector output rejected", "plugin", r.Plugin, "err", err)
			continue
		}
		if n := countFamilies(fams); r.SeriesLimit > 0 && n > r.SeriesLimit {
			st.Err = fmt.Errorf("job %q collector %q: plugin %s: %w: %d series, over the collector's series_limit of %d (raise series_limit if they are all wanted, or have the plugin return fewer)",
				j.Name, r.Collector, r.Plugin, ErrSeriesLimit, n, r.SeriesLimit)
			logs[i].Warn("collector output rejected", "plugin", r.Plugin, "err", st.Err)
			continue
		}
		st.Success = true
		in, fixes := prepare(fams, reserved, r.Labels)
		fixes.log(logs[i])
		st.Dropped = fixes.dropped
		if n, first := seen.dropRepeats(in, r.Collector); n > 0 {
			st.Dropped += n
			logs[i].Warn("merge rule: series dropped because they repeat series of an earlier collector or of this output (first wins)",
				"series", n, "first_from", first)
		}
		st.Samples = countSeries(in)
		prepared[i] = in
		all = append(all, static(in))
	}
	// One pass over every collector's families, in config order, so the
	// first collector wins every conflict. It is the common case, no
	// conflict, at the cost of one gather instead of one per collector (the
	// merge of a ten-collector job was 9/10 re-checking what was already
	// accepted).
	accepted, err := all.Gather()
	if err != nil {
		// Some series were dropped: merge again one collector at a time,
		// to say which collector lost what. Gather does not change its
		// input, so the families can be fed again.
		accepted = nil
		for i, in := range prepared {
			if in == nil {
				continue
			}
			st := &statuses[i]
			before := countSeries(accepted) + countSeries(in)
			merged, err := prometheus.Gatherers{static(accepted), static(in)}.Gather()
			if err != nil {
				logs[i].Warn("merge rule: series dropped because they clash with earlier collectors or repeat within the output (first wins)", "err", summarize(err))
			}
			lost := before - countSeries(merged)
			st.Dropped += lost
			st.Samples -= lost
			accepted = merged
		}
	}
	// The status series cannot clash with plugin families (prepare drops
	// pushagent_*), so they are added without another consistency pass.
	out := append(accepted, statusFamilies(statuses)...)
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out, statuses
}

// seenSeries maps each series accepted so far, by a 64-bit hash of its name
// and sorted label pairs, to the collector that emitted it. A hash keeps
// the check free of an allocation per series, on every run; client_golang's
// own uniqueness check is a 64-bit hash too.
type seenSeries struct {
	seed maphash.Seed
	by   map[uint64]string
}

func newSeenSeries() seenSeries {
	return seenSeries{seed: maphash.MakeSeed(), by: map[uint64]string{}}
}

func byLabelName(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) }

// dropRepeats removes from fams, in place, every series seen before, and
// records the rest as the collector's. It returns how many it removed and
// which collector emitted the first of them. The Gatherers pass would drop
// them too, but at the price of formatting each as an error: a job whose
// collectors all emit the same series (one plugin twice, without labels to
// tell them apart) cost ten times a normal run.
func (s seenSeries) dropRepeats(fams []*dto.MetricFamily, collector string) (dropped int, first string) {
	var h maphash.Hash
	h.SetSeed(s.seed)
	var sorted []*dto.LabelPair
	for _, f := range fams {
		kept := f.Metric[:0]
		for _, m := range f.Metric {
			pairs := m.Label
			if !slices.IsSortedFunc(pairs, byLabelName) {
				sorted = append(sorted[:0], pairs...)
				slices.SortFunc(sorted, byLabelName)
				pairs = sorted
			}
			h.Reset()
			h.WriteString(f.GetName())
			for _, lp := range pairs {
				h.WriteByte(0xff)
				h.WriteString(lp.GetName())
				h.WriteByte(0xfe)
				h.WriteString(lp.GetValue())
			}
			key := h.Sum64()
			if by, ok := s.by[key]; ok {
				if dropped == 0 {
					first = by
				}
				dropped++
				continue
			}
			s.by[key] = collector
			kept = append(kept, m)
		}
		clear(f.Metric[len(kept):])
		f.Metric = kept
	}
	return dropped, first
}

type static []*dto.MetricFamily

func (s static) Gather() ([]*dto.MetricFamily, error) { return s, nil }

func countFamilies(fams map[string]*dto.MetricFamily) int {
	n := 0
	for _, f := range fams {
		n += len(f.Metric)
	}
	return n
}

func countSeries(fams []*dto.MetricFamily) int {
	n := 0
	for _, f := range fams {
		n += len(f.Metric)
	}
	return n
}

// summarize keeps a clash log line readable when many series clash.
func summarize(err error) string {
	var multi prometheus.MultiError
	if errors.As(err, &multi) && len(multi) > 3 {
		return fmt.Sprintf("%v; %v; %v; and %d more", multi[0], multi[1], multi[2], len(multi)-3)
	}
	return err.Error()
}

type fixes struct {
	renamed    map[string]int
	dropped    int
	droppedFam []string
}

func (f fixes) log(log *slog.Logger) {
	for _, name := range sortedKeys(f.renamed) {
		log.Warn("merge rule: label renamed to exported_"+name+" (it is the job label, a grouping label or a collector label)", "label", name, "samples", f.renamed[name])
	}
	if len(f.droppedFam) > 0 {
		log.Warn("merge rule: reserved metric names dropped (pushagent_* is the agent's)", "families", strings.Join(f.droppedFam, ","))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// prepare applies the per-sample rules: reserved names, reserved and
// collector labels. It returns families sorted by name.
func prepare(fams map[string]*dto.MetricFamily, reserved map[string]bool, extra map[string]string) ([]*dto.MetricFamily, fixes) {
	f := fixes{renamed: map[string]int{}}
	extraNames := sortedKeys(extra)
	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, name := range sortedKeys(fams) {
		fam := fams[name]
		if strings.HasPrefix(name, "pushagent_") {
			f.dropped += len(fam.Metric)
			f.droppedFam = append(f.droppedFam, name)
			continue
		}
		for _, m := range fam.Metric {
			changed := false
			for _, lp := range m.Label {
				n := lp.GetName()
				if reserved[n] || hasKey(extra, n) {
					lp.Name = proto.String("exported_" + n)
					f.renamed[n]++
					changed = true
				}
			}
			for _, n := range extraNames {
				m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(n), Value: proto.String(extra[n])})
				changed = true
			}
			if changed {
				sort.Slice(m.Label, func(a, b int) bool { return m.Label[a].GetName() < m.Label[b].GetName() })
			}
		}
		out = append(out, fam)
	}
	return out, f
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// Status series descriptors, built once: a registry per run would cost more
// than the merge itself (registration checks, a goroutine per gather).
var (
	successDesc  = prometheus.NewDesc(SuccessName, "Whether the collector's last run succeeded (1) or failed (0): the up that pushed metrics lack.", []string{"collector"}, nil)
	durationDesc = prometheus.NewDesc(DurationName, "How long the collector's last run took.", []string{"collector"}, nil)
	samplesDesc  = prometheus.NewDesc(SamplesName, "Series the collector contributed to this push (a histogram or summary counts once).", []string{"collector"}, nil)
	droppedDesc  = prometheus.NewDesc(DroppedName, "Series of the collector's output dropped by the merge rules (see docs/merge-rules.md).", []string{"collector"}, nil)
)

// statusFamilies builds the per-collector status series as client_golang
// const metrics, written to their protobuf form by the library.
func statusFamilies(statuses []Status) []*dto.MetricFamily {
	type series struct {
		name, help string
		desc       *prometheus.Desc
		value      func(Status) float64
	}
	all := []series{
		{DroppedName, "Series of the collector's output dropped by the merge rules (see docs/merge-rules.md).", droppedDesc, func(s Status) float64 { return float64(s.Dropped) }},
		{DurationName, "How long the collector's last run took.", durationDesc, func(s Status) float64 { return s.Duration.Seconds() }},
		{SamplesName, "Series the collector contributed to this push (a histogram or summary counts once).", samplesDesc, func(s Status) float64 { return float64(s.Samples) }},
		{SuccessName, "Whether the collector's last run succeeded (1) or failed (0): the up that pushed metrics lack.", successDesc, func(s Status) float64 {
			if s.Success {
				return 1
			}
			return 0
		}},
	}
	sorted := slices.Clone(statuses)
	slices.SortFunc(sorted, func(a, b Status) int { return strings.Compare(a.Collector, b.Collector) })
	fams := make([]*dto.MetricFamily, 0, len(all))
	for _, s := range all {
		fam := &dto.MetricFamily{Name: proto.String(s.name), Help: proto.String(s.help), Type: dto.MetricType_GAUGE.Enum()}
		for _, st := range sorted {
			m := &dto.Metric{}
			if err := prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, s.value(st), st.Collector).Write(m); err != nil {
				panic(fmt.Sprintf("merge: status series: %v", err)) // a bug in this file, not input
			}
			fam.Metric = append(fam.Metric, m)
		}
		fams = append(fams, fam)
	}
	return fams
}
