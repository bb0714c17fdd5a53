// Package relabel applies relabelling rules to a run's series: a job's and
// a collector's relabel_configs, and an output's external_labels and
// write_relabel_configs. The rules are Prometheus' own (model/relabel),
// applied by its own code; this package decides what a rule sees and keeps
// the batch whole afterwards: families regrouped after a rename, series
// without a valid name or repeated by the rules dropped.
//
// What it must never do: change the batch it is given. A run's batch is
// shared by every output of the run at once, so each call returns either
// that same batch (nothing changed) or a new one that shares every label
// set it did not change.
package relabel

import (
	"cmp"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/series"
)

// Result says what applying rules did to a batch. Counts are of samples,
// each a series as Prometheus stores it (a histogram's bucket, _sum and
// _count each count).
type Result struct {
	// Dropped are series a rule dropped (keep, drop, keepequal, dropequal).
	Dropped int
	// Unnamed are series the rules left without a valid metric name.
	Unnamed int
	// Duplicates are series whose labels the rules made those of an
	// earlier series (a receiver would refuse or overwrite one of them).
	Duplicates int
	// Conflicts are series renamed into a family of another type.
	Conflicts int
	// RunLabels are series (of an output) whose job or grouping label a
	// rule changed or removed: the change is undone, since those labels
	// are the run's (see Output).
	RunLabels int
}

// Lost is every series the batch lost.
func (r Result) Lost() int { return r.Dropped + r.Unnamed + r.Duplicates + r.Conflicts }

// Series applies a job's or a collector's rules to b. The rules see the
// series as the collectors made them, without job and grouping labels:
// those are the same for every series of a job, so a rule on them could
// only keep or drop the whole job. reserved are those label names: a
// rule (labelmap) that makes one gets it renamed exported_<name>, as the
// merge does with a plugin's own.
//
// cache, when not nil, remembers the rules' outcome per series across runs
// (see Cache); it must serve only these rules and reserved names.
//
// exempt, when set, names families the rules do not apply to (the job's
// status series, as Prometheus' metric_relabel_configs do not apply to up).
func Series(b *series.Batch, rules []*relabel.Config, reserved []string, cache *Cache, exempt func(*series.Family) bool) (*series.Batch, Result) {
	if len(rules) == 0 || b.Len() == 0 {
		return b, Result{}
	}
	a := applier{rules: rules, cache: cache, exempt: exempt}
	a.after = func(lb *labels.Builder) bool {
		for _, n := range reserved {
			if v := lb.Get(n); v != "" {
				lb.Del(n)
				lb.Set("exported_"+n, v)
			}
		}
		return false
	}
	return a.apply(b)
}

// Output is b as one output sends it: each series gets the run's labels
// (run: job and grouping) and then the output's external labels it does
// not have, and the output's write_relabel_configs apply to that whole
// series, as Prometheus' write_relabel_configs see job and instance.
//
// The run's labels stay the run's: outputs add them when they encode (the
// Pushgateway puts them in the push URL), so they are taken out of the
// series again after the rules, and a rule that changed or removed one is
// undone and counted in Result.RunLabels. Rules may filter on them and
// copy them to other labels.
//
// cache, when not nil, remembers the outcome per series across runs (see
// Cache); it must serve only this output's rules and this job.
func Output(b *series.Batch, run labels.Labels, w config.WriteRules, cache *Cache) (*series.Batch, Result) {
	if (len(w.WriteRelabelConfigs) == 0 && w.ExternalLabels.IsEmpty()) || b.Len() == 0 {
		return b, Result{}
	}
	a := applier{rules: w.WriteRelabelConfigs, cache: cache}
	a.before = func(lb *labels.Builder) {
		run.Range(func(l labels.Label) { lb.Set(l.Name, l.Value) })
		w.ExternalLabels.Range(func(l labels.Label) {
			if lb.Get(l.Name) == "" {
				lb.Set(l.Name, l.Value)
			}
		})
	}
	a.after = func(lb *labels.Builder) bool {
		changed := false
		run.Range(func(l labels.Label) {
			changed = changed || lb.Get(l.Name) != l.Value
			lb.Del(l.Name)
		})
		return changed
	}
	return a.apply(b)
}

// applier runs rules over a batch: before prepares each series' labels,
// after tidies them.
type applier struct {
	rules  []*relabel.Config
	before func(lb *labels.Builder)
	after  func(lb *labels.Builder) (runChanged bool)
	cache  *Cache
	exempt func(*series.Family) bool
}

// renamed is a family made for series whose name a rule changed.
type renamed struct {
	fam   series.Family
	first int // index in out of its first sample, to order new families
}

// outcome is what the rules made of one series.
type outcome uint8

const (
	unchanged outcome = iota
	changed
	dropped
	unnamed
)

// process applies the rules to one series' labels.
func (a applier) process(lb *labels.Builder, in labels.Labels) (labels.Labels, outcome, bool) {
	lb.Reset(in)
	if a.before != nil {
		a.before(lb)
	}
	if !relabel.ProcessBuilder(lb, a.rules...) {
		return labels.EmptyLabels(), dropped, false
	}
	// __tmp labels carry values between rules, never further. Only
	// rules make them: the run's, external and plugin labels never start
	// with __.
	if makesTmp(a.rules) {
		lb.Range(func(l labels.Label) {
			if strings.HasPrefix(l.Name, "__") && l.Name != model.MetricNameLabel {
				lb.Del(l.Name)
			}
		})
	}
	runChanged := false
	if a.after != nil {
		runChanged = a.after(lb)
	}
	// Labels allocates, but once per series while the cache holds it;
	// comparing in place (Builder.Range) copies kilobytes per call.
	out := lb.Labels()
	if labels.Equal(out, in) {
		return in, unchanged, runChanged
	}
	if !model.IsValidLegacyMetricName(out.Get(model.MetricNameLabel)) {
		return labels.EmptyLabels(), unnamed, runChanged
	}
	return out, changed, runChanged
}

// makesTmp says whether a rule may set a label whose name starts with __
// (other than __name__): a target_label so named, or a labelmap, whose
// replacement makes names.
func makesTmp(rules []*relabel.Config) bool {
	for _, r := range rules {
		switch r.Action {
		case relabel.LabelMap:
			return true
		case relabel.Replace, relabel.HashMod, relabel.Lowercase, relabel.Uppercase:
			if strings.HasPrefix(r.TargetLabel, "__") && r.TargetLabel != model.MetricNameLabel {
				return true
			}
			if strings.Contains(r.TargetLabel, "$") {
				return true
			}
		}
	}
	return false
}

func (a applier) apply(b *series.Batch) (*series.Batch, Result) {
	var res Result
	lb := labels.NewBuilder(labels.EmptyLabels())
	out := make([]series.Sample, 0, b.Len())
	anyChange, relabelled := false, false
	// Families of renamed series, by name; their Family index in out is
	// len(b.Families)+position until the families are rebuilt.
	var extra []renamed
	extraIdx := map[string]int{}
	a.cache.startRun()
	for i := range b.Samples {
		s := &b.Samples[i]
		if a.exempt != nil && a.exempt(&b.Families[s.Family]) {
			out = append(out, *s)
			continue
		}
		ls, oc, runChanged := a.cache.get(s.Labels)
		if oc == notCached {
			ls, oc, runChanged = a.process(lb, s.Labels)
			a.cache.put(s.Labels, ls, oc, runChanged)
		}
		if runChanged {
			res.RunLabels++
		}
		switch oc {
		case unchanged:
			out = append(out, *s)
			continue
		case dropped:
			res.Dropped++
			anyChange = true
			continue
		case unnamed:
			res.Unnamed++
			anyChange = true
			continue
		}
		anyChange, relabelled = true, true
		ns := series.Sample{Labels: ls, Value: s.Value, T: s.T, Family: s.Family}
		if name, old := ls.Get(model.MetricNameLabel), s.Labels.Get(model.MetricNameLabel); name != old {
			fam := renamedFamily(&b.Families[s.Family], old, name)
			j, ok := extraIdx[fam.Name]
			if !ok {
				j = len(extra)
				extraIdx[fam.Name] = j
				extra = append(extra, renamed{fam: fam, first: len(out)})
			}
			ns.Family = int32(len(b.Families) + j)
		}
		out = append(out, ns)
	}
	a.cache.endRun()
	if !anyChange {
		return b, res
	}
	return rebuild(b, out, extra, relabelled, &res), res
}

// notCached is get's answer for a series the cache does not know.
const notCached outcome = 255

// Cache remembers what rules made of each series, as Prometheus' remote
// write remembers each series' relabelled labels: a job's series are
// mostly the same run after run, so a run's rules cost a lookup per
// series instead of their evaluation. A Cache serves one set of rules
// and one job's run labels; runs that use it at once take turns. Series
// not seen in a run are forgotten once they are as many as those seen. A
// nil *Cache caches nothing.
type Cache struct {
	mu   sync.Mutex // held for a whole run
	m    map[uint64][]cached
	run  uint64
	live int // series seen in this run
}

type cached struct {
	in, out    labels.Labels
	oc         outcome
	runChanged bool
	seen       uint64
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{m: map[uint64][]cached{}} }

func (c *Cache) startRun() {
	if c != nil {
		c.mu.Lock()
		c.run++
		c.live = 0
	}
}

func (c *Cache) get(in labels.Labels) (labels.Labels, outcome, bool) {
	if c == nil {
		return labels.EmptyLabels(), notCached, false
	}
	es := c.m[in.Hash()]
	for i := range es {
		if labels.Equal(es[i].in, in) {
			if es[i].seen != c.run {
				es[i].seen = c.run
				c.live++
			}
			return es[i].out, es[i].oc, es[i].runChanged
		}
	}
	return labels.EmptyLabels(), notCached, false
}

func (c *Cache) put(in, out labels.Labels, oc outcome, runChanged bool) {
	if c == nil {
		return
	}
	h := in.Hash()
	c.m[h] = append(c.m[h], cached{in: in, out: out, oc: oc, runChanged: runChanged, seen: c.run})
	c.live++
}

// endRun forgets the series the run did not have, once they are as many
// as those it had: a job whose series change (a label with a timestamp in
// it) must not grow the cache without bound.
func (c *Cache) endRun() {
	if c == nil {
		return
	}
	defer c.mu.Unlock()
	if len(c.m) <= 2*c.live+64 {
		return
	}
	for h, es := range c.m {
		es = slices.DeleteFunc(es, func(e cached) bool { return e.seen != c.run })
		if len(es) == 0 {
			delete(c.m, h)
		} else {
			c.m[h] = es
		}
	}
}

// Len is the number of series the cache knows.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, es := range c.m {
		n += len(es)
	}
	return n
}

// renamedFamily is the family of a series renamed from old to name, whose
// family was f. A name that keeps the suffix the old one had after its
// family's name (rpc_seconds_bucket → rpc_latency_seconds_bucket, or none
// for a gauge) keeps the family's type and help under the new base name;
// any other rename makes an untyped series, as Prometheus' metadata does
// not follow a renamed series either.
func renamedFamily(f *series.Family, old, name string) series.Family {
	if suffix, ok := strings.CutPrefix(old, f.Name); ok && len(name) > len(suffix) && strings.HasSuffix(name, suffix) {
		nf := *f
		nf.Name = name[:len(name)-len(suffix)]
		if nf.Unit != "" && !strings.HasSuffix(nf.Name, "_"+nf.Unit) {
			nf.Unit = "" // OpenMetrics: a unit is the name's suffix
		}
		return nf
	}
	return series.Family{Name: name, Type: model.MetricTypeUnknown}
}

// rebuild makes the batch of the kept samples out: families that kept no
// sample go, renamed series join the family of their new name (or a new
// one), and samples are regrouped so that each family's are contiguous and
// in family order, the order the encoders read them in. Families stay
// sorted by name when they were (the merged batch), else new ones follow
// the old. Series repeated by the rules are dropped, the first kept.
//
// relabelled says whether some series' labels changed.
func rebuild(b *series.Batch, out []series.Sample, extra []renamed, relabelled bool, res *Result) *series.Batch {
	nOld := len(b.Families)
	// Map every family (old, then extra) to its family in the result,
	// merging extras into an old family of the same name.
	byName := make(map[string]int, nOld)
	for i := range b.Families {
		if _, dup := byName[b.Families[i].Name]; !dup {
			byName[b.Families[i].Name] = i
		}
	}
	target := make([]int, nOld+len(extra)) // family -> family it joins
	for i := range nOld {
		target[i] = i
	}
	conflict := make([]bool, len(extra))
	for j, e := range extra {
		if i, ok := byName[e.fam.Name]; ok {
			target[nOld+j] = i
			conflict[j] = b.Families[i].Type != e.fam.Type
			continue
		}
		target[nOld+j] = nOld + j
	}
	used := make([]bool, len(target))
	kept := out[:0]
	// Two series can only become one when the rules changed labels: the
	// batch had no repeated series.
	var seen map[uint64]int // label hash -> index in kept of the first
	if relabelled {
		seen = make(map[uint64]int, len(out))
	}
	for _, s := range out {
		f := int(s.Family)
		if f >= nOld && conflict[f-nOld] {
			res.Conflicts++
			continue
		}
		if seen != nil {
			h := s.Labels.Hash()
			if k, ok := seen[h]; ok {
				// A hash collision of different series is rare enough
				// for a scan.
				if labels.Equal(kept[k].Labels, s.Labels) || slices.ContainsFunc(kept, func(o series.Sample) bool { return labels.Equal(o.Labels, s.Labels) }) {
					res.Duplicates++
					continue
				}
			} else {
				seen[h] = len(kept)
			}
		}
		s.Family = int32(target[f])
		used[target[f]] = true
		kept = append(kept, s)
	}
	// The result's families, in order.
	all := func(i int) *series.Family {
		if i < nOld {
			return &b.Families[i]
		}
		return &extra[i-nOld].fam
	}
	var order []int
	for i := range used {
		if used[i] {
			order = append(order, i)
		}
	}
	sorted := slices.IsSortedFunc(b.Families, func(x, y series.Family) int { return strings.Compare(x.Name, y.Name) })
	if sorted {
		slices.SortStableFunc(order, func(x, y int) int { return strings.Compare(all(x).Name, all(y).Name) })
	}
	pos := make([]int32, len(target))
	nb := &series.Batch{Families: make([]series.Family, len(order))}
	for p, i := range order {
		pos[i] = int32(p)
		nb.Families[p] = *all(i)
	}
	for k := range kept {
		kept[k].Family = pos[kept[k].Family]
	}
	// Stable: within a family, the samples keep their order. Without a
	// rename they are in order already.
	byFamily := func(x, y series.Sample) int { return cmp.Compare(x.Family, y.Family) }
	if !slices.IsSortedFunc(kept, byFamily) {
		slices.SortStableFunc(kept, byFamily)
	}
	nb.Samples = kept
	return nb
}
