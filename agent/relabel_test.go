package agent

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v2"

	"github.com/pushagent/pushagent/agent/config"
)

func relabelRules(t *testing.T, y string) []*relabel.Config {
	t.Helper()
	var rs []*relabel.Config
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

// TestRelabelInTheRun: a collector's rules, then the job's (which leave
// the status series alone), then each output's on its own view of the
// run: what each output would receive, as once prints it, and the counts.
func TestRelabelInTheRun(t *testing.T) {
	hello := wat(t, "hello")
	col := testCollector("c", hello, "7")
	col.RelabelConfigs = relabelRules(t, "- {target_label: src, replacement: wat}")
	cfg := &config.Config{
		Outputs: []config.Output{
			{Name: "a", Pushgateway: &config.Gateway{URL: "http://127.0.0.1:1", Timeout: time.Second, WriteRules: config.WriteRules{
				ExternalLabels:      labels.FromStrings("site", "a"),
				WriteRelabelConfigs: relabelRules(t, "- {source_labels: [__name__], regex: 'pushagent_.*', action: drop}"),
			}}},
			{Name: "b", Pushgateway: &config.Gateway{URL: "http://127.0.0.1:1", Timeout: time.Second, WriteRules: config.WriteRules{
				ExternalLabels:      labels.FromStrings("site", "b"),
				WriteRelabelConfigs: relabelRules(t, "- {source_labels: [__name__, job], regex: 'pushagent_collector_success;j', action: keep}"),
			}}},
		},
		Jobs: []config.Job{{
			Name: "j", Every: time.Minute, Method: "put", Grouping: map[string]string{"instance": "i"},
			RelabelConfigs: relabelRules(t, `
- {source_labels: [__name__], regex: 'wat_(.*)', target_label: __name__, replacement: 'renamed_${1}'}
- {source_labels: [__name__], regex: 'renamed_.*', action: keep}`),
			Collectors: []config.Collector{col},
		}},
	}
	reg := prometheus.NewRegistry()
	a := newAgent(t, cfg, Options{Registry: reg})
	c, err := a.Collect(context.Background(), "j")
	if err != nil {
		t.Fatal(err)
	}
	previews, err := a.Preview(c)
	if err != nil {
		t.Fatal(err)
	}
	text := func(p OutputPreview) string {
		var buf bytes.Buffer
		enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, f := range p.Families {
			if err := enc.Encode(f); err != nil {
				t.Fatal(err)
			}
		}
		return buf.String()
	}
	if len(previews) != 2 || previews[0].Name != "a" || previews[1].Name != "b" {
		t.Fatalf("previews %+v, want outputs a and b", previews)
	}
	gotA, gotB := text(previews[0]), text(previews[1])
	if want := `renamed_hello{config="7",site="a",src="wat"} 1`; !strings.Contains(gotA, want) || strings.Contains(gotA, "pushagent_") {
		t.Errorf("output a receives:\n%s\nwant %s and no status series (its rules drop them)", gotA, want)
	}
	if want := "pushagent_collector_success{collector=\"c\",site=\"b\"} 1\n"; !strings.Contains(gotB, want) || strings.Contains(gotB, "renamed_") || strings.Count(gotB, "# TYPE") != 1 {
		t.Errorf("output b receives:\n%s\nwant only the status series it keeps, ending %s", gotB, want)
	}
	if previews[0].Dropped != 4 || previews[1].Dropped != 4 {
		t.Errorf("dropped by the outputs' rules: a %d, b %d; want the 4 status series from a, and from b the renamed series and 3 status series", previews[0].Dropped, previews[1].Dropped)
	}
	// The run's batch is the job's, whatever the outputs did to their view.
	if n := c.Batch.Len(); n != 5 {
		t.Errorf("the run's batch has %d series, want the renamed one and 4 status series", n)
	}
	// The counts are the push's: push to both (they fail: nothing listens)
	// and read them.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = a.Push(ctx, c)
	for _, o := range []string{"a", "b"} {
		if got := testutil.ToFloat64(a.metrics.relabel.output.WithLabelValues("j", o)); got != 4 {
			t.Errorf("pushagent_output_relabel_dropped_series_total{output=%q} = %v, want 4", o, got)
		}
	}
	// The job's keep rule dropped nothing of the plugin's (its one series
	// is renamed and kept) and never sees the status series.
	if got := testutil.CollectAndCount(a.metrics.relabel.job); got != 0 {
		t.Errorf("the job's rules dropped series (%d counters); the status series must pass them", got)
	}
}
