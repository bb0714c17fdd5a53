package agent

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

// checkOutput runs a job three times through out and checks what the
// receiver stores: the plugin's values with the job, grouping and collector labels, every type
// as Prometheus stores it, one sample per run at the collection time, and
// the per-collector status series. run is the selector of the run's labels
// as the receiver names them (an OTLP receiver may keep service.name).
func checkOutput(t *testing.T, out config.Output, q querier, run string) {
	plugin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, exposition)
	}))
	defer plugin.Close()
	cfg := &config.Config{
		Outputs: []config.Output{out},
		Jobs: []config.Job{{
			Name: "rw", Every: time.Minute, Method: "put", Grouping: map[string]string{"instance": "host-1"},
			Collectors: []config.Collector{{Name: "app", HTTP: &config.HTTPPlugin{URL: plugin.URL}, Timeout: 5 * time.Second,
				MaxOutput: 1 << 20, SeriesLimit: 100, Labels: map[string]string{"zone": "z1"}}},
		}},
	}
	reg := prometheus.NewRegistry()
	a, err := New(context.Background(), cfg, Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	var times []time.Time
	for range 3 {
		c, err := a.Collect(context.Background(), "rw")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = a.Push(ctx, c)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, c.Time)
		time.Sleep(1100 * time.Millisecond) // distinct seconds, for the query below
	}
	one := func(s []testenv.Sample) bool { return len(s) == 1 }
	sel := func(metric, labels string) string {
		return metric + "{" + strings.TrimSuffix(run+","+labels, ",") + "}"
	}
	for _, tc := range []struct {
		query string
		want  float64
	}{
		{sel("rw_requests_total", `zone="z1",path="/a"`), 7},
		{sel("rw_temperature", `zone="z1"`), 21.5},
		{sel("rw_latency_seconds_bucket", `le="0.1"`), 1},
		{sel("rw_latency_seconds_bucket", `le="0.5"`), 3},
		{sel("rw_latency_seconds_bucket", `le="+Inf"`), 4},
		{sel("rw_latency_seconds_sum", ``), 1.7},
		{sel("rw_latency_seconds_count", ``), 4},
		{sel("rw_size_bytes", `quantile="0.9"`), 900},
		{sel("rw_size_bytes_count", ``), 5},
		{sel("pushagent_collector_success", `collector="app"`), 1},
		{sel("pushagent_collector_samples", `collector="app"`), 4},
		// One sample per run, no more.
		{`count_over_time(` + sel("rw_temperature", "") + `[10m])`, 3},
		{`count_over_time(` + sel("pushagent_collector_success", "") + `[10m])`, 3},
	} {
		got := q.WaitFor(t, tc.query, 30*time.Second, one)
		if got[0].Value != tc.want {
			t.Errorf("%s = %v, want %v", tc.query, got[0].Value, tc.want)
		}
	}
	got := q.WaitFor(t, `timestamp(`+sel("rw_temperature", "")+`)`, 20*time.Second, one)
	if want := float64(times[2].UnixMilli()) / 1000; math.Abs(got[0].Value-want) > 0.0011 {
		t.Errorf("the last sample's time is %.3f, want the collection time %.3f", got[0].Value, want)
	}
	st := a.Outputs()
	if len(st) != 1 || st[0].SentSamples == 0 || st[0].FailedSamples != 0 || st[0].BufferBytes != 0 || !st[0].Oldest.IsZero() {
		t.Errorf("output status = %+v", st)
	}
	// The buffer's own series are on the agent's /metrics for this
	// output as for a remote_write one.
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pushagent_output_buffer_bytes", "pushagent_output_buffer_oldest_age_seconds", "pushagent_output_samples_dropped_total"} {
		found := false
		for _, f := range fams {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.Metric {
				for _, l := range m.Label {
					found = found || (l.GetName() == "output" && l.GetValue() == out.Name)
				}
			}
		}
		if !found {
			t.Errorf("no %s{output=%q} on the agent's metrics", name, out.Name)
		}
	}
}

func otlpOutput(t *testing.T, url string) config.Output {
	return config.Output{Name: "otel", OTLP: &config.OTLP{URL: url, Timeout: 5 * time.Second, Compression: "gzip",
		Buffer: config.Buffer{Dir: filepath.Join(t.TempDir(), "buffer"), MaxSize: 16 << 20}}}
}

func TestOTLPOutputToVictoriaMetrics(t *testing.T) {
	t.Parallel()
	v := testenv.StartVictoriaMetricsOTLP(t)
	checkOutput(t, otlpOutput(t, v.OTLPURL), v, `service_name="rw",service_instance_id="host-1"`)
	if typ, help, _ := v.Metadata(t, "rw_requests_total"); typ != "counter" || help != "" {
		t.Errorf("rw_requests_total's metadata: type %q help %q, want counter", typ, help)
	}
}

func TestOTLPOutputToPrometheus(t *testing.T) {
	t.Parallel()
	p := testenv.StartPrometheus3(t)
	checkOutput(t, otlpOutput(t, p.OTLPURL), p, `job="rw",instance="host-1",__type__!=""`)
}

func TestRemoteWrite2OutputToPrometheus(t *testing.T) {
	t.Parallel()
	p := testenv.StartPrometheus3(t)
	checkOutput(t, config.Output{Name: "tsdb", RemoteWrite: &config.RemoteWrite{URL: p.WriteURL, Timeout: 5 * time.Second, Protocol: config.RemoteWrite20,
		Buffer: config.Buffer{Dir: filepath.Join(t.TempDir(), "buffer"), MaxSize: 16 << 20}}}, p, `job="rw",instance="host-1",__type__!=""`)
}

// TestOTLPAndRemoteWrite2RulesPerOutput: one job to an otlp output
// (VictoriaMetrics) whose write_relabel_configs drop one family and
// rename another, with an external label, and to a remote write 2.0
// output (Prometheus 3) without rules. Each receiver holds what its own
// output's rules say, queried back from it.
func TestOTLPAndRemoteWrite2RulesPerOutput(t *testing.T) {
	t.Parallel()
	vm := testenv.StartVictoriaMetricsOTLP(t)
	p := testenv.StartPrometheus3(t)
	plugin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, exposition)
	}))
	defer plugin.Close()
	otel := otlpOutput(t, vm.OTLPURL)
	otel.OTLP.ExternalLabels = labels.FromStrings("cluster", "eu-1")
	otel.OTLP.WriteRelabelConfigs = relabelRules(t, `
- source_labels: [__name__]
  regex: rw_temperature
  action: drop
- source_labels: [__name__]
  regex: 'rw_requests_(.+)'
  target_label: __name__
  replacement: app_requests_${1}
`)
	prom := config.Output{Name: "prom3", RemoteWrite: &config.RemoteWrite{URL: p.WriteURL, Timeout: 5 * time.Second, Protocol: config.RemoteWrite20,
		Buffer: config.Buffer{Dir: filepath.Join(t.TempDir(), "buffer"), MaxSize: 16 << 20}}}
	cfg := &config.Config{
		Outputs: []config.Output{otel, prom},
		Jobs: []config.Job{{
			Name: "rw", Every: time.Minute, Method: "put", Grouping: map[string]string{"instance": "host-1"},
			Collectors: []config.Collector{{Name: "app", HTTP: &config.HTTPPlugin{URL: plugin.URL}, Timeout: 5 * time.Second,
				MaxOutput: 1 << 20, SeriesLimit: 100}},
		}},
	}
	a, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	c, err := a.Collect(context.Background(), "rw")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Push(ctx, c); err != nil {
		t.Fatal(err)
	}
	one := func(s []testenv.Sample) bool { return len(s) == 1 }
	if got := vm.WaitFor(t, `app_requests_total{service_name="rw",cluster="eu-1",path="/a"}`, 30*time.Second, one); got[0].Value != 7 {
		t.Errorf("VictoriaMetrics: renamed counter = %v, want 7", got)
	}
	if got := p.WaitFor(t, `rw_temperature{job="rw",instance="host-1"}`, 20*time.Second, one); got[0].Value != 21.5 || got[0].Labels["cluster"] != "" {
		t.Errorf("Prometheus: rw_temperature = %v, want 21.5 without the other output's external label", got)
	}
	for _, absent := range []struct {
		q     querier
		where string
		expr  string
	}{
		{vm, "VictoriaMetrics", `rw_temperature`},
		{vm, "VictoriaMetrics", `rw_requests_total`},
		{p, "Prometheus", `app_requests_total`},
		{p, "Prometheus", `{cluster="eu-1"}`},
	} {
		got := absent.q.WaitFor(t, `count(`+absent.expr+`) or vector(0)`, 10*time.Second, one)
		if got[0].Value != 0 {
			t.Errorf("%s holds %s: %v; the rules of one output must not reach the other, and dropped series must not arrive", absent.where, absent.expr, got)
		}
	}
	if got := p.WaitFor(t, `rw_requests_total{job="rw"}`, 30*time.Second, one); got[0].Value != 7 {
		t.Errorf("Prometheus: rw_requests_total = %v, want 7 under its own name", got)
	}
}
