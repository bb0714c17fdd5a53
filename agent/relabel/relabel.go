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
func Series(b *series.Batch, rules []*relabel.Config, reserved []string) (*series.Batch, Result) {
	if len(rules) == 0 || b.Len() == 0 {
		return b, Result{}
	}
	a := applier{rules: rules}
	a.after = func(lb *labels.Builder, _ *Result) {
		for _, n := range reserved {
			if v := lb.Get(n); v != "" {
				lb.Del(n)
				lb.Set("exported_"+n, v)
			}
		}
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
func Output(b *series.Batch, run labels.Labels, w config.WriteRules) (*series.Batch, Result) {
	if (len(w.WriteRelabelConfigs) == 0 && w.ExternalLabels.IsEmpty()) || b.Len() == 0 {
		return b, Result{}
	}
	a := applier{rules: w.WriteRelabelConfigs}
	a.before = func(lb *labels.Builder) {
		run.Range(func(l labels.Label) { lb.Set(l.Name, l.Value) })
		w.ExternalLabels.Range(func(l labels.Label) {
			if lb.Get(l.Name) == "" {
				lb.Set(l.Name, l.Value)
			}
		})
	}
	a.after = func(lb *labels.Builder, r *Result) {
		changed := false
		run.Range(func(l labels.Label) {
			changed = changed || lb.Get(l.Name) != l.Value
			lb.Del(l.Name)
		})
		if changed {
			r.RunLabels++
		}
	}
	return a.apply(b)
}

// applier runs rules over a batch: before prepares each series' labels,
// after tidies them.
type applier struct {
	rules  []*relabel.Config
	before func(lb *labels.Builder)
	after  func(lb *labels.Builder, r *Result)
}

// renamed is a family made for series whose name a rule changed.
type renamed struct {
	fam   series.Family
	first int // index in out of its first sample, to order new families
}

func (a applier) apply(b *series.Batch) (*series.Batch, Result) {
	var res Result
	lb := labels.NewBuilder(labels.EmptyLabels())
	out := make([]series.Sample, 0, b.Len())
	changed := false
	// Families of renamed series, by name; their Family index in out is
	// len(b.Families)+position until the families are rebuilt.
	var extra []renamed
	extraIdx := map[string]int{}
	for i := range b.Samples {
		s := &b.Samples[i]
		lb.Reset(s.Labels)
		if a.before != nil {
			a.before(lb)
		}
		if !relabel.ProcessBuilder(lb, a.rules...) {
			res.Dropped++
			changed = true
			continue
		}
		// __tmp labels carry values between rules, never further.
		lb.Range(func(l labels.Label) {
			if strings.HasPrefix(l.Name, "__") && l.Name != model.MetricNameLabel {
				lb.Del(l.Name)
			}
		})
		if a.after != nil {
			a.after(lb, &res)
		}
		if same(lb, s.Labels) {
			out = append(out, *s)
			continue
		}
		changed = true
		name := lb.Get(model.MetricNameLabel)
		if !model.IsValidLegacyMetricName(name) {
			res.Unnamed++
			continue
		}
		ns := series.Sample{Labels: lb.Labels(), Value: s.Value, T: s.T, Family: s.Family}
		if old := s.Labels.Get(model.MetricNameLabel); name != old {
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
	if !changed {
		return b, res
	}
	return rebuild(b, out, extra, &res), res
}

// same reports whether the builder holds exactly the labels ls.
func same(lb *labels.Builder, ls labels.Labels) bool {
	n, eq := 0, true
	lb.Range(func(l labels.Label) {
		n++
		eq = eq && ls.Get(l.Name) == l.Value
	})
	return eq && n == ls.Len()
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
func rebuild(b *series.Batch, out []series.Sample, extra []renamed, res *Result) *series.Batch {
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
	seen := make(map[uint64][]int, len(out)) // label hash -> indexes in kept
	for _, s := range out {
		f := int(s.Family)
		if f >= nOld && conflict[f-nOld] {
			res.Conflicts++
			continue
		}
		h := s.Labels.Hash()
		if slices.ContainsFunc(seen[h], func(k int) bool { return labels.Equal(kept[k].Labels, s.Labels) }) {
			res.Duplicates++
			continue
		}
		seen[h] = append(seen[h], len(kept))
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
	// Stable: within a family, the samples keep their order.
	slices.SortStableFunc(kept, func(x, y series.Sample) int { return cmp.Compare(x.Family, y.Family) })
	nb.Samples = kept
	return nb
}
