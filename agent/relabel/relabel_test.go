package relabel_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	promrelabel "github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v2"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/relabel"
	"github.com/pushagent/pushagent/agent/series"
)

// fam is a family of a test batch; its samples are written
// `name{a="1",b="2"} value`.
type fam struct {
	name    string
	typ     model.MetricType
	help    string
	samples []string
}

func batch(t *testing.T, fams ...fam) *series.Batch {
	t.Helper()
	b := &series.Batch{}
	for i, f := range fams {
		b.Families = append(b.Families, series.Family{Name: f.name, Type: f.typ, Help: f.help})
		for _, s := range f.samples {
			ls, v := parseSample(t, s)
			b.Samples = append(b.Samples, series.Sample{Labels: ls, Value: v, Family: int32(i)})
		}
	}
	return b
}

func parseSample(t *testing.T, s string) (labels.Labels, float64) {
	t.Helper()
	metric, value, ok := strings.Cut(s, " ")
	if !ok {
		t.Fatalf("sample %q has no value", s)
	}
	var v float64
	if _, err := fmt.Sscan(value, &v); err != nil {
		t.Fatal(err)
	}
	name, rest, _ := strings.Cut(metric, "{")
	kv := []string{model.MetricNameLabel, name}
	for _, pair := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
		if pair == "" {
			continue
		}
		k, val, _ := strings.Cut(pair, "=")
		kv = append(kv, k, strings.Trim(val, `"`))
	}
	return labels.FromStrings(kv...), v
}

// render writes a batch one line per sample, with its family, and checks
// the shape every encoder relies on: each family's samples contiguous, in
// family order, no family without samples.
func render(t *testing.T, b *series.Batch) []string {
	t.Helper()
	var lines []string
	last := int32(-1)
	for _, s := range b.Samples {
		if s.Family < last {
			t.Errorf("sample %s of family %d after family %d: families are not contiguous", s.Labels, s.Family, last)
		}
		last = s.Family
		f := b.Families[s.Family]
		lines = append(lines, fmt.Sprintf("%s(%s) %s %g", f.Name, f.Type, s.Labels, s.Value))
	}
	for i := range b.Families {
		if !slices.ContainsFunc(b.Samples, func(s series.Sample) bool { return int(s.Family) == i }) {
			t.Errorf("family %s has no sample", b.Families[i].Name)
		}
	}
	return lines
}

func rules(t testing.TB, y string) []*promrelabel.Config {
	t.Helper()
	var rs []*promrelabel.Config
	if err := yaml.UnmarshalStrict([]byte(y), &rs); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if err := r.Validate(model.LegacyValidation); err != nil {
			t.Fatal(err)
		}
	}
	return rs
}

// clone is a deep copy, to prove the input batch is left as it was.
func clone(b *series.Batch) *series.Batch {
	return &series.Batch{Families: slices.Clone(b.Families), Samples: slices.Clone(b.Samples)}
}

func sampleBatch(t *testing.T) *series.Batch {
	return batch(t,
		fam{"go_goroutines", model.MetricTypeGauge, "Goroutines.", []string{`go_goroutines 12`}},
		fam{"http_requests_total", model.MetricTypeCounter, "Requests.", []string{
			`http_requests_total{code="200",device="/dev/sda1",pod_template_hash="abc"} 7`,
			`http_requests_total{code="404",device="/dev/sdb",pod_template_hash="def"} 2`,
		}},
		fam{"rpc_seconds", model.MetricTypeHistogram, "RPC latency.", []string{
			`rpc_seconds_bucket{le="0.1"} 1`,
			`rpc_seconds_bucket{le="+Inf"} 3`,
			`rpc_seconds_sum 0.9`,
			`rpc_seconds_count 3`,
		}},
	)
}

func TestSeries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rules    string
		reserved []string
		want     []string
		res      relabel.Result
	}{{
		name:  "drop by name, as metric_relabel_configs do",
		rules: "- {source_labels: [__name__], regex: 'go_.*|rpc_.*', action: drop}",
		want: []string{
			`http_requests_total(counter) {__name__="http_requests_total", code="200", device="/dev/sda1", pod_template_hash="abc"} 7`,
			`http_requests_total(counter) {__name__="http_requests_total", code="404", device="/dev/sdb", pod_template_hash="def"} 2`,
		},
		res: relabel.Result{Dropped: 5},
	}, {
		name:  "keep with two source labels and a separator",
		rules: "- {source_labels: [__name__, code], separator: '@', regex: 'http_.*@404', action: keep}",
		want:  []string{`http_requests_total(counter) {__name__="http_requests_total", code="404", device="/dev/sdb", pod_template_hash="def"} 2`},
		res:   relabel.Result{Dropped: 6},
	}, {
		name: "replace with a group, labeldrop",
		rules: `
- {source_labels: [device], regex: '/dev/(.+)', target_label: disk, replacement: '${1}'}
- {regex: 'pod_template_hash|device', action: labeldrop}`,
		want: []string{
			`go_goroutines(gauge) {__name__="go_goroutines"} 12`,
			`http_requests_total(counter) {__name__="http_requests_total", code="200", disk="sda1"} 7`,
			`http_requests_total(counter) {__name__="http_requests_total", code="404", disk="sdb"} 2`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_bucket", le="0.1"} 1`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_bucket", le="+Inf"} 3`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_sum"} 0.9`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_count"} 3`,
		},
	}, {
		name:  "labeldrop that makes two series one: the first is kept",
		rules: "- {regex: 'code|device|pod_template_hash', action: labeldrop}",
		want: []string{
			`go_goroutines(gauge) {__name__="go_goroutines"} 12`,
			`http_requests_total(counter) {__name__="http_requests_total"} 7`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_bucket", le="0.1"} 1`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_bucket", le="+Inf"} 3`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_sum"} 0.9`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_count"} 3`,
		},
		res: relabel.Result{Duplicates: 1},
	}, {
		name: "rename a histogram whole: it stays a histogram, families stay sorted",
		rules: `
- {source_labels: [__name__], regex: 'rpc_seconds(_.*)', target_label: __name__, replacement: 'api_latency_seconds${1}'}
- {source_labels: [__name__], regex: 'go_(.*)', target_label: __name__, replacement: 'z_go_${1}'}`,
		want: []string{
			`api_latency_seconds(histogram) {__name__="api_latency_seconds_bucket", le="0.1"} 1`,
			`api_latency_seconds(histogram) {__name__="api_latency_seconds_bucket", le="+Inf"} 3`,
			`api_latency_seconds(histogram) {__name__="api_latency_seconds_sum"} 0.9`,
			`api_latency_seconds(histogram) {__name__="api_latency_seconds_count"} 3`,
			`http_requests_total(counter) {__name__="http_requests_total", code="200", device="/dev/sda1", pod_template_hash="abc"} 7`,
			`http_requests_total(counter) {__name__="http_requests_total", code="404", device="/dev/sdb", pod_template_hash="def"} 2`,
			`z_go_goroutines(gauge) {__name__="z_go_goroutines"} 12`,
		},
	}, {
		name:  "a rename that loses the suffix makes an untyped series",
		rules: "- {source_labels: [__name__], regex: 'rpc_seconds_count', target_label: __name__, replacement: rpc_calls}",
		want: []string{
			`go_goroutines(gauge) {__name__="go_goroutines"} 12`,
			`http_requests_total(counter) {__name__="http_requests_total", code="200", device="/dev/sda1", pod_template_hash="abc"} 7`,
			`http_requests_total(counter) {__name__="http_requests_total", code="404", device="/dev/sdb", pod_template_hash="def"} 2`,
			`rpc_calls(unknown) {__name__="rpc_calls"} 3`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_bucket", le="0.1"} 1`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_bucket", le="+Inf"} 3`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_sum"} 0.9`,
		},
	}, {
		name:  "a rename into a family of another type is dropped",
		rules: "- {source_labels: [__name__], regex: 'go_goroutines', target_label: __name__, replacement: http_requests_total}",
		want: []string{
			`http_requests_total(counter) {__name__="http_requests_total", code="200", device="/dev/sda1", pod_template_hash="abc"} 7`,
			`http_requests_total(counter) {__name__="http_requests_total", code="404", device="/dev/sdb", pod_template_hash="def"} 2`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_bucket", le="0.1"} 1`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_bucket", le="+Inf"} 3`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_sum"} 0.9`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_count"} 3`,
		},
		res: relabel.Result{Conflicts: 1},
	}, {
		name: "hashmod into a __tmp label, keep on it: the __tmp label goes",
		rules: `
- {source_labels: [code], modulus: 2, target_label: __tmp_shard, action: hashmod}
- {source_labels: [__name__, __tmp_shard], regex: 'http_.*;1|[^h].*;.*', action: keep}`,
		want: func() []string {
			// md5("200") and md5("404") decide which request series is kept;
			// ask Prometheus' own code which, so the test states the rule,
			// not a constant.
			var out []string
			out = append(out, `go_goroutines(gauge) {__name__="go_goroutines"} 12`)
			for _, code := range []string{"200", "404"} {
				lb := labels.NewBuilder(labels.FromStrings("code", code))
				promrelabel.ProcessBuilder(lb, &promrelabel.Config{SourceLabels: model.LabelNames{"code"}, Modulus: 2, TargetLabel: "s", Action: promrelabel.HashMod, Separator: ";", Regex: promrelabel.MustNewRegexp("(.*)")})
				if lb.Get("s") == "1" {
					dev, hash, v := "/dev/sda1", "abc", "7"
					if code == "404" {
						dev, hash, v = "/dev/sdb", "def", "2"
					}
					out = append(out, fmt.Sprintf(`http_requests_total(counter) {__name__="http_requests_total", code="%s", device="%s", pod_template_hash="%s"} %s`, code, dev, hash, v))
				}
			}
			return append(out,
				`rpc_seconds(histogram) {__name__="rpc_seconds_bucket", le="0.1"} 1`,
				`rpc_seconds(histogram) {__name__="rpc_seconds_bucket", le="+Inf"} 3`,
				`rpc_seconds(histogram) {__name__="rpc_seconds_sum"} 0.9`,
				`rpc_seconds(histogram) {__name__="rpc_seconds_count"} 3`)
		}(),
	}, {
		name:  "a rule that empties the name drops the series",
		rules: "- {source_labels: [__name__], regex: 'go_.*', target_label: __name__, replacement: ''}\n- {source_labels: [code], regex: '404', action: drop}",
		want: []string{
			`http_requests_total(counter) {__name__="http_requests_total", code="200", device="/dev/sda1", pod_template_hash="abc"} 7`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_bucket", le="0.1"} 1`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_bucket", le="+Inf"} 3`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_sum"} 0.9`,
			`rpc_seconds(histogram) {__name__="rpc_seconds_count"} 3`,
		},
		res: relabel.Result{Unnamed: 1, Dropped: 1},
	}, {
		name:     "labelmap onto a grouping label: renamed exported_, as the merge does",
		rules:    "- {regex: 'pod_template_(hash)', replacement: instance, action: labelmap}\n- {source_labels: [__name__], regex: 'http_.*', action: keep}",
		reserved: []string{"instance"},
		want: []string{
			`http_requests_total(counter) {__name__="http_requests_total", code="200", device="/dev/sda1", exported_instance="abc", pod_template_hash="abc"} 7`,
			`http_requests_total(counter) {__name__="http_requests_total", code="404", device="/dev/sdb", exported_instance="def", pod_template_hash="def"} 2`,
		},
		res: relabel.Result{Dropped: 5},
	}, {
		name:  "uppercase, lowercase",
		rules: "- {source_labels: [code, device], target_label: where, action: uppercase}\n- {source_labels: [__name__], regex: 'http_.*', action: keep}",
		want: []string{
			`http_requests_total(counter) {__name__="http_requests_total", code="200", device="/dev/sda1", pod_template_hash="abc", where="200;/DEV/SDA1"} 7`,
			`http_requests_total(counter) {__name__="http_requests_total", code="404", device="/dev/sdb", pod_template_hash="def", where="404;/DEV/SDB"} 2`,
		},
		res: relabel.Result{Dropped: 5},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.name, "hashmod") {
				// Of the two request series, those the hash did not keep.
				tc.res.Dropped = 2 - (len(tc.want) - 5)
			}
			rs := rules(t, tc.rules)
			checkCached(t, sampleBatch(t), tc.want, tc.res, func(in *series.Batch, c *relabel.Cache) (*series.Batch, relabel.Result) {
				return relabel.Series(in, rs, tc.reserved, c, nil)
			})
		})
	}
}

// checkCached runs apply over in without a cache, then twice with one
// (the second run comes from the cache and must be the same), and checks
// each run's series and result, and that in was left as it was.
func checkCached(t *testing.T, in *series.Batch, want []string, wantRes relabel.Result, apply func(*series.Batch, *relabel.Cache) (*series.Batch, relabel.Result)) {
	t.Helper()
	before := clone(in)
	cache := relabel.NewCache()
	for run, c := range []*relabel.Cache{nil, cache, cache} {
		got, res := apply(in, c)
		if lines := render(t, got); !slices.Equal(lines, want) {
			t.Errorf("run %d: got\n%s\nwant\n%s", run, strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
		if res != wantRes {
			t.Errorf("run %d: result %+v, want %+v", run, res, wantRes)
		}
		if !reflect.DeepEqual(in, before) {
			t.Errorf("run %d: the input batch was changed", run)
		}
	}
}

func TestNothingChangedIsTheSameBatch(t *testing.T) {
	in := sampleBatch(t)
	if got, _ := relabel.Series(in, nil, nil, nil, nil); got != in {
		t.Error("no rules: want the batch itself")
	}
	if got, _ := relabel.Series(in, rules(t, "- {source_labels: [__name__], regex: 'nothing_.*', action: drop}"), nil, relabel.NewCache(), nil); got != in {
		t.Error("rules that change nothing: want the batch itself")
	}
	if got, _ := relabel.Output(in, labels.FromStrings("job", "j"), config.WriteRules{}, nil); got != in {
		t.Error("an output without rules: want the batch itself")
	}
	run := labels.FromStrings("job", "node", "instance", "web-1")
	if got, _ := relabel.Output(in, run, config.WriteRules{WriteRelabelConfigs: rules(t, "- {source_labels: [job], regex: node, action: keep}")}, nil); got != in {
		t.Error("an output whose rules keep everything: want the batch itself")
	}
}

func TestOutput(t *testing.T) {
	runLabels := labels.FromStrings("job", "node", "instance", "web-1")
	for _, tc := range []struct {
		name     string
		external labels.Labels
		rules    string
		want     []string
		res      relabel.Result
	}{{
		name:     "external labels are added unless the series has the label, the run's included",
		external: labels.FromStrings("code", "999", "cluster", "eu-1", "instance", "other"),
		rules:    "- {source_labels: [__name__], regex: 'http_.*', action: keep}",
		want: []string{
			`http_requests_total(counter) {__name__="http_requests_total", cluster="eu-1", code="200", device="/dev/sda1", pod_template_hash="abc"} 7`,
			`http_requests_total(counter) {__name__="http_requests_total", cluster="eu-1", code="404", device="/dev/sdb", pod_template_hash="def"} 2`,
		},
		res: relabel.Result{Dropped: 5},
	}, {
		name:     "rules run after external labels, and see job and instance",
		external: labels.FromStrings("cluster", "eu-1"),
		rules: `
- {source_labels: [job, cluster, __name__], regex: 'node;eu-1;go_.*', action: keep}
- {source_labels: [instance], regex: '(.*)-\d+', target_label: host, replacement: '$1'}`,
		want: []string{`go_goroutines(gauge) {__name__="go_goroutines", cluster="eu-1", host="web"} 12`},
		res:  relabel.Result{Dropped: 6},
	}, {
		name:  "a change to a run label is undone and counted",
		rules: "- {source_labels: [__name__], regex: 'go_.*', action: keep}\n- {target_label: job, replacement: other}\n- {regex: instance, action: labeldrop}",
		want:  []string{`go_goroutines(gauge) {__name__="go_goroutines"} 12`},
		res:   relabel.Result{Dropped: 6, RunLabels: 1},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			w := config.WriteRules{ExternalLabels: tc.external, WriteRelabelConfigs: rules(t, tc.rules)}
			checkCached(t, sampleBatch(t), tc.want, tc.res, func(in *series.Batch, c *relabel.Cache) (*series.Batch, relabel.Result) {
				return relabel.Output(in, runLabels, w, c)
			})
		})
	}
}

// TestOutputsAreIndependent: two outputs' rules over one shared batch,
// one after the other and at once, each see the run's series as they
// are, not as the other left them.
func TestOutputsAreIndependent(t *testing.T) {
	in := sampleBatch(t)
	before := clone(in)
	run := labels.FromStrings("job", "node")
	a := config.WriteRules{WriteRelabelConfigs: rules(t, "- {source_labels: [__name__], regex: 'go_.*', action: drop}")}
	b := config.WriteRules{ExternalLabels: labels.FromStrings("replica", "r1"), WriteRelabelConfigs: rules(t, "- {source_labels: [__name__], regex: 'go_.*', action: keep}")}
	done := make(chan []string)
	for _, w := range []config.WriteRules{a, b} {
		go func() {
			got, _ := relabel.Output(in, run, w, relabel.NewCache())
			var names []string
			for _, s := range got.Samples {
				names = append(names, s.Labels.String())
			}
			done <- names
		}()
	}
	results := [][]string{<-done, <-done}
	slices.SortFunc(results, func(x, y []string) int { return len(x) - len(y) })
	if want := []string{`{__name__="go_goroutines", replica="r1"}`}; !slices.Equal(results[0], want) {
		t.Errorf("output b got %v, want %v", results[0], want)
	}
	if len(results[1]) != 6 {
		t.Errorf("output a got %d series, want the 6 that are not go_*: %v", len(results[1]), results[1])
	}
	if !reflect.DeepEqual(in, before) {
		t.Error("the shared batch was changed")
	}
}

// TestCacheForgetsGoneSeries: series a job no longer has leave the cache
// once they outnumber those it has, so changing series never grow it
// without bound.
func TestCacheForgetsGoneSeries(t *testing.T) {
	rs := rules(t, "- {source_labels: [__name__], regex: 'drop_.*', action: drop}")
	cache := relabel.NewCache()
	for run := range 50 {
		var samples []string
		for i := range 100 {
			samples = append(samples, fmt.Sprintf(`m{run="%d",i="%d"} 1`, run, i))
		}
		relabel.Series(batch(t, fam{"m", model.MetricTypeGauge, "", samples}), rs, nil, cache, nil)
		if n := cache.Len(); n > 2*100+64+100 {
			t.Fatalf("run %d: the cache holds %d series of runs of 100", run, n)
		}
	}
}

// TestExemptFamilies: the job's status series pass the job's rules
// untouched, as Prometheus' metric_relabel_configs leave up alone.
func TestExemptFamilies(t *testing.T) {
	in := batch(t,
		fam{"app_up", model.MetricTypeGauge, "", []string{`app_up 1`}},
		fam{"pushagent_collector_success", model.MetricTypeGauge, "", []string{`pushagent_collector_success{collector="c"} 1`}},
	)
	got, res := relabel.Series(in, rules(t, "- {source_labels: [__name__], regex: '.*', action: drop}"), nil, nil,
		func(f *series.Family) bool { return strings.HasPrefix(f.Name, "pushagent_") })
	want := []string{`pushagent_collector_success(gauge) {__name__="pushagent_collector_success", collector="c"} 1`}
	if lines := render(t, got); !slices.Equal(lines, want) || res.Dropped != 1 {
		t.Errorf("got %v %+v, want %v and one dropped", lines, res, want)
	}
}
