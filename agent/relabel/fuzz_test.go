package relabel_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	promrelabel "github.com/prometheus/prometheus/model/relabel"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/relabel"
	"github.com/pushagent/pushagent/agent/series"
)

// FuzzRulesKeepTheBatchWhole applies a fuzzed rule (any action, source
// label, regex, target and replacement) to a batch of several family
// types, through a job's and an output's path, and checks what every
// encoder relies on: families contiguous and in order, none empty, no
// series twice, every name valid, and the input untouched.
func FuzzRulesKeepTheBatchWhole(f *testing.F) {
	f.Add(uint8(0), "__name__", "rpc_seconds(_.*)", "__name__", "api${1}")
	f.Add(uint8(0), "__name__", "go_(.*)", "__name__", "http_requests_total")
	f.Add(uint8(6), "", "code|device|pod_template_hash", "", "")
	f.Add(uint8(5), "", "pod_(.*)", "", "__tmp_$1")
	f.Add(uint8(1), "code", "404", "", "")
	f.Add(uint8(0), "le", "(.*)", "__name__", "")
	actions := []promrelabel.Action{promrelabel.Replace, promrelabel.Keep, promrelabel.Drop, promrelabel.HashMod,
		promrelabel.Lowercase, promrelabel.LabelMap, promrelabel.LabelDrop, promrelabel.LabelKeep, promrelabel.Uppercase}
	f.Fuzz(func(t *testing.T, action uint8, source, regex, target, replacement string) {
		re, err := promrelabel.NewRegexp(regex)
		if err != nil {
			return
		}
		c := promrelabel.DefaultRelabelConfig
		c.Action = actions[int(action)%len(actions)]
		c.Regex, c.Replacement, c.Modulus = re, replacement, 3
		if source != "" {
			c.SourceLabels = model.LabelNames{model.LabelName(source)}
		}
		switch c.Action {
		case promrelabel.LabelDrop, promrelabel.LabelKeep:
			c.SourceLabels, c.Replacement = nil, promrelabel.DefaultRelabelConfig.Replacement
		default:
			c.TargetLabel = target
		}
		if c.Validate(model.LegacyValidation) != nil {
			return
		}
		rs := []*promrelabel.Config{&c}
		in := sampleBatch(t)
		before := clone(in)
		check := func(b *series.Batch) {
			render(t, b) // contiguity, no empty family
			for i := range b.Samples {
				s := &b.Samples[i]
				if !model.IsValidLegacyMetricName(s.Labels.Get(model.MetricNameLabel)) {
					t.Fatalf("series without a valid name: %s", s.Labels)
				}
				if slices.ContainsFunc(b.Samples[:i], func(o series.Sample) bool { return labels.Equal(o.Labels, s.Labels) }) {
					t.Fatalf("series twice: %s", s.Labels)
				}
			}
			if !reflect.DeepEqual(in, before) {
				t.Fatal("the input batch was changed")
			}
		}
		// Twice: the second run comes from the caches.
		jobCache, outCache := relabel.NewCache(), relabel.NewCache()
		for range 2 {
			b, _ := relabel.Series(in, rs, []string{"instance"}, jobCache, nil)
			check(b)
			b, _ = relabel.Output(in, labels.FromStrings("job", "j", "instance", "i"), config.WriteRules{ExternalLabels: labels.FromStrings("x", "y"), WriteRelabelConfigs: rs}, outCache)
			check(b)
		}
	})
}
