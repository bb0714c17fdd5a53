package merge

// The merge as it was before it worked on series.Batch (expfmt families
// and client_golang's Gatherers), kept as the reference that
// FuzzMergeMatchesReference holds MergeBatch to.

import (
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// Merge applies the rules in the package doc and returns the families to
// push, sorted by name, including the status series, and each collector's
// status in input order.
func (j Job) referenceMerge(results []Result) ([]*dto.MetricFamily, []Status) {
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
	seen := newRefSeenSeries()
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
		if n := refCountFamilies(fams); r.SeriesLimit > 0 && n > r.SeriesLimit {
			st.Err = fmt.Errorf("job %q collector %q: plugin %s: %w: %d series, over the collector's series_limit of %d (raise series_limit if they are all wanted, or have the plugin return fewer)",
				j.Name, r.Collector, r.Plugin, ErrSeriesLimit, n, r.SeriesLimit)
			logs[i].Warn("collector output rejected", "plugin", r.Plugin, "err", st.Err)
			continue
		}
		st.Success = true
		in, fixes := refPrepare(fams, reserved, r.Labels)
		fixes.log(logs[i])
		st.Dropped = fixes.dropped
		if n, first := seen.dropRepeats(in, r.Collector); n > 0 {
			st.Dropped += n
			logs[i].Warn("merge rule: series dropped because they repeat series of an earlier collector or of this output (first wins)",
				"series", n, "first_from", first)
		}
		st.Samples = refCountSeries(in)
		prepared[i] = in
		all = append(all, refStatic(in))
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
			before := refCountSeries(accepted) + refCountSeries(in)
			merged, err := prometheus.Gatherers{refStatic(accepted), refStatic(in)}.Gather()
			if err != nil {
				logs[i].Warn("merge rule: series dropped because they clash with earlier collectors or repeat within the output (first wins)", "err", refSummarize(err))
			}
			lost := before - refCountSeries(merged)
			st.Dropped += lost
			st.Samples -= lost
			accepted = merged
		}
	}
	// The status series cannot clash with plugin families (prepare drops
	// pushagent_*), so they are added without another consistency pass.
	out := append(accepted, refStatusFamilies(statuses)...)
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out, statuses
}

// refSeenSeries maps each series accepted so far, by a 64-bit hash of its name
// and sorted label pairs, to the collector that emitted it. A hash keeps
// the check free of an allocation per series, on every run; client_golang's
// own uniqueness check is a 64-bit hash too.
type refSeenSeries struct {
	seed maphash.Seed
	by   map[uint64]string
}

func newRefSeenSeries() refSeenSeries {
	return refSeenSeries{seed: maphash.MakeSeed(), by: map[uint64]string{}}
}

func refByLabelName(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) }

// dropRepeats removes from fams, in place, every series seen before, and
// records the rest as the collector's. It returns how many it removed and
// which collector emitted the first of them. The Gatherers pass would drop
// them too, but at the price of formatting each as an error: a job whose
// collectors all emit the same series (one plugin twice, without labels to
// tell them apart) cost ten times a normal run.
func (s refSeenSeries) dropRepeats(fams []*dto.MetricFamily, collector string) (dropped int, first string) {
	var h maphash.Hash
	h.SetSeed(s.seed)
	var sorted []*dto.LabelPair
	for _, f := range fams {
		kept := f.Metric[:0]
		for _, m := range f.Metric {
			pairs := m.Label
			if !slices.IsSortedFunc(pairs, refByLabelName) {
				sorted = append(sorted[:0], pairs...)
				slices.SortFunc(sorted, refByLabelName)
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

type refStatic []*dto.MetricFamily

func (s refStatic) Gather() ([]*dto.MetricFamily, error) { return s, nil }

func refCountFamilies(fams map[string]*dto.MetricFamily) int {
	n := 0
	for _, f := range fams {
		n += len(f.Metric)
	}
	return n
}

func refCountSeries(fams []*dto.MetricFamily) int {
	n := 0
	for _, f := range fams {
		n += len(f.Metric)
	}
	return n
}

// summarize keeps a clash log line readable when many series clash.
func refSummarize(err error) string {
	var multi prometheus.MultiError
	if errors.As(err, &multi) && len(multi) > 3 {
		return fmt.Sprintf("%v; %v; %v; and %d more", multi[0], multi[1], multi[2], len(multi)-3)
	}
	return err.Error()
}

type refFixes struct {
	renamed    map[string]int
	dropped    int
	droppedFam []string
}

func (f refFixes) log(log *slog.Logger) {
	for _, name := range refSortedKeys(f.renamed) {
		log.Warn("merge rule: label renamed to exported_"+name+" (it is the job label, a grouping label or a collector label)", "label", name, "samples", f.renamed[name])
	}
	if len(f.droppedFam) > 0 {
		log.Warn("merge rule: reserved metric names dropped (pushagent_* is the agent's)", "families", strings.Join(f.droppedFam, ","))
	}
}

func refSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// prepare applies the per-sample rules: reserved names, reserved and
// collector labels. It returns families sorted by name.
func refPrepare(fams map[string]*dto.MetricFamily, reserved map[string]bool, extra map[string]string) ([]*dto.MetricFamily, refFixes) {
	f := refFixes{renamed: map[string]int{}}
	extraNames := refSortedKeys(extra)
	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, name := range refSortedKeys(fams) {
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
				if reserved[n] || refHasKey(extra, n) {
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

func refHasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// Status series descriptors, built once: a registry per run would cost more
// than the merge itself (registration checks, a goroutine per gather).
var (
	refSuccessDesc  = prometheus.NewDesc(SuccessName, "Whether the collector's last run succeeded (1) or failed (0): the up that pushed metrics lack.", []string{"collector"}, nil)
	refDurationDesc = prometheus.NewDesc(DurationName, "How long the collector's last run took.", []string{"collector"}, nil)
	refSamplesDesc  = prometheus.NewDesc(SamplesName, "Series the collector contributed to this push (a histogram or summary counts once).", []string{"collector"}, nil)
	refDroppedDesc  = prometheus.NewDesc(DroppedName, "Series of the collector's output dropped by the merge rules (see docs/merge-rules.md).", []string{"collector"}, nil)
)

// refStatusFamilies builds the per-collector status series as client_golang
// const metrics, written to their protobuf form by the library.
func refStatusFamilies(statuses []Status) []*dto.MetricFamily {
	type series struct {
		name, help string
		desc       *prometheus.Desc
		value      func(Status) float64
	}
	all := []series{
		{DroppedName, "Series of the collector's output dropped by the merge rules (see docs/merge-rules.md).", refDroppedDesc, func(s Status) float64 { return float64(s.Dropped) }},
		{DurationName, "How long the collector's last run took.", refDurationDesc, func(s Status) float64 { return s.Duration.Seconds() }},
		{SamplesName, "Series the collector contributed to this push (a histogram or summary counts once).", refSamplesDesc, func(s Status) float64 { return float64(s.Samples) }},
		{SuccessName, "Whether the collector's last run succeeded (1) or failed (0): the up that pushed metrics lack.", refSuccessDesc, func(s Status) float64 {
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
