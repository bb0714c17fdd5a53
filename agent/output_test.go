package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/push"
	"github.com/pushagent/pushagent/agent/remotewrite"
	"github.com/pushagent/pushagent/agent/series"
	"github.com/pushagent/pushagent/internal/testenv"
)

// families is a run's batch in client_model's shape, for the tests that
// read it as families.
func families(c *Collection) []*dto.MetricFamily {
	return c.Batch.MetricFamilies(series.DTOOptions{})
}

func parseBatch(t *testing.T, text string) *series.Batch {
	t.Helper()
	b, err := series.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTimestampsAreTheOutputsBusiness: the Pushgateway output drops sample
// timestamps and the gateway's own families, without touching the batch
// the other outputs share; remote_write keeps the timestamps.
func TestTimestampsAreTheOutputsBusiness(t *testing.T) {
	b := parseBatch(t, "m{a=\"1\"} 1 1700000000000\nn 2\npush_time_seconds 5\n")
	before := slices.Clone(b.Samples)
	got, dropped, n := push.Families(b)
	if dropped.Timestamps != 1 || !slices.Equal(dropped.Families, []string{"push_time_seconds"}) || n != 2 {
		t.Errorf("dropped = %+v, %d samples, want 1 timestamp and push_time_seconds, for the log, and 2 samples", dropped, n)
	}
	for _, f := range got {
		if f.GetName() == "push_time_seconds" {
			t.Error("push_time_seconds sent to the gateway, which writes it itself")
		}
		for _, m := range f.Metric {
			if m.TimestampMs != nil {
				t.Errorf("%s keeps its timestamp for the gateway", f.GetName())
			}
		}
	}
	if len(got) != 2 {
		t.Errorf("gateway families = %d, want m and n", len(got))
	}
	if !slices.EqualFunc(b.Samples, before, func(x, y series.Sample) bool {
		return labels.Equal(x.Labels, y.Labels) && x.T == y.T && x.Value == y.Value
	}) {
		t.Errorf("the shared batch was changed")
	}
	at := time.UnixMilli(1800000000000)
	body, _, _ := remotewrite.EncodeBatch(b, "j", nil, at)
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	for _, s := range req.Timeseries {
		want := at.UnixMilli()
		if s.Labels[0].Value == "m" {
			want = 1700000000000
		}
		if s.Samples[0].Timestamp != want {
			t.Errorf("remote_write sample %v at %d, want %d (the plugin's own, else the collection time)", s.Labels, s.Samples[0].Timestamp, want)
		}
	}
}

// TestRunsCountedOnce: the run counter on /metrics is the scheduler's
// count, the one the status page shows.
func TestRunsCountedOnce(t *testing.T) {
	hello := wat(t, "hello")
	reg := prometheus.NewRegistry()
	cfg := &config.Config{Gateway: config.Gateway{URL: "http://127.0.0.1:1", Timeout: 100 * time.Millisecond},
		Jobs: []config.Job{{Name: "j", Every: time.Second, Method: "put", Collectors: []config.Collector{testCollector("c", hello, "1")}}}}
	a := newAgent(t, cfg, Options{Registry: reg})
	stop := start(t, a)
	testenv.Eventually(t, 15*time.Second, "two finished runs", func() bool { return a.Status()[0].Runs >= 2 && !a.Status()[0].Running })
	stop()
	want := a.Status()[0].Runs
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`# HELP pushagent_job_runs_total Runs of each job started (skipped runs are not counted).
# TYPE pushagent_job_runs_total counter
pushagent_job_runs_total{job="j"} `+strconv.FormatUint(want, 10)+"\n"), "pushagent_job_runs_total"); err != nil {
		t.Error(err)
	}
}

// TestReloadKeepsOrReopensOutputs: a reload that leaves an output as it
// is keeps it (its sender, its buffer); one that changes a remote_write
// output closes the old queue before the new one opens the same buffer,
// and what the old one held is delivered by the new one.
func TestReloadKeepsOrReopensOutputs(t *testing.T) {
	hello := wat(t, "hello")
	var got strings.Builder
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.WriteString(r.Header.Get("X-Scope-OrgID") + ";")
	}))
	defer rcv.Close()
	dir := filepath.Join(t.TempDir(), "buffer")
	mk := func(tenant string) *config.Config {
		return &config.Config{
			Outputs: []config.Output{
				{Name: "gw", Pushgateway: &config.Gateway{URL: "http://127.0.0.1:1", Timeout: 100 * time.Millisecond}},
				{Name: "tsdb", RemoteWrite: &config.RemoteWrite{URL: rcv.URL, Timeout: time.Second,
					Headers: map[string]config.Secret{"X-Scope-OrgID": config.Secret(tenant)},
					Buffer:  config.Buffer{Dir: dir, MaxSize: 1 << 20}}},
			},
			Jobs: []config.Job{{Name: "j", Every: time.Minute, Method: "put", Collectors: []config.Collector{testCollector("c", hello, "1")}}},
		}
	}
	a, err := New(context.Background(), mk("a"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	gw := a.cur.Load().output("gw")
	if _, err := a.Reload(context.Background(), mk("b")); err != nil {
		t.Fatal(err)
	}
	if a.cur.Load().output("gw") != gw {
		t.Error("an unchanged output was replaced by the reload")
	}
	c, err := a.Collect(context.Background(), "j")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Push(ctx, c); err == nil || !strings.Contains(err.Error(), `output "gw"`) {
		t.Errorf("push error %v; want only the dead gateway to fail", err)
	}
	if got.String() != "b;" {
		t.Errorf("requests by tenant: %q; want one from the reloaded output", got.String())
	}
	// Dropping the failing gateway: the job is unchanged, its status no
	// longer lists the gateway, and its failure no longer counts.
	third := mk("b")
	third.Outputs = third.Outputs[1:]
	if res, err := a.Reload(context.Background(), third); err != nil || len(res.Unchanged) != 1 {
		t.Fatalf("reload: %+v %v", res, err)
	}
	if outs := a.Status()[0].Outputs; len(outs) != 1 || outs[0].Output != "tsdb" || !outs[0].OK {
		t.Errorf("outputs in the status after removing gw: %+v", outs)
	}
}
