package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

// exposition is what the HTTP collector of the remote_write tests serves:
// one metric of each type, a timestamp-less sample each.
const exposition = `# TYPE rw_requests_total counter
rw_requests_total{path="/a"} 7
# TYPE rw_temperature gauge
rw_temperature 21.5
# TYPE rw_latency_seconds histogram
rw_latency_seconds_bucket{le="0.1"} 1
rw_latency_seconds_bucket{le="0.5"} 3
rw_latency_seconds_bucket{le="+Inf"} 4
rw_latency_seconds_sum 1.7
rw_latency_seconds_count 4
# TYPE rw_size_bytes summary
rw_size_bytes{quantile="0.9"} 900
rw_size_bytes_sum 2000
rw_size_bytes_count 5
`

// querier is a Prometheus-compatible query API: Prometheus itself or
// VictoriaMetrics.
type querier interface {
	WaitFor(t testing.TB, promql string, timeout time.Duration, cond func([]testenv.Sample) bool) []testenv.Sample
}

// checkRemoteWrite runs checkOutput through a remote_write (1.0) output
// to writeURL; the receiver keeps job and instance as they are.
func checkRemoteWrite(t *testing.T, writeURL string, q querier) {
	checkOutput(t, config.Output{Name: "tsdb", RemoteWrite: &config.RemoteWrite{
		URL: writeURL, Timeout: 5 * time.Second,
		Buffer: config.Buffer{Dir: filepath.Join(t.TempDir(), "buffer"), MaxSize: 16 << 20},
	}}, q, `job="rw",instance="host-1"`)
}

func TestRemoteWriteToPrometheus(t *testing.T) {
	t.Parallel()
	p := testenv.StartPrometheus(t, testenv.PrometheusOptions{Args: []string{"--web.enable-remote-write-receiver"}})
	checkRemoteWrite(t, p.URL+"/api/v1/write", p)
}

func TestRemoteWriteToVictoriaMetrics(t *testing.T) {
	t.Parallel()
	v := testenv.StartVictoriaMetrics(t)
	checkRemoteWrite(t, v.WriteURL, v)
}

// TestRemoteWriteLogsBufferedSentAndRefused: a run's line for a
// remote_write output says "buffered", never "pushed" (the data has only
// reached the disk); the sender says "sent" with the samples once the
// receiver took them, and "refused" when it never will (here, a wrong
// path on a real VictoriaMetrics).
func TestRemoteWriteLogsBufferedSentAndRefused(t *testing.T) {
	t.Parallel()
	v := testenv.StartVictoriaMetrics(t)
	plugin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, exposition)
	}))
	defer plugin.Close()
	rw := func(url string) *config.RemoteWrite {
		return &config.RemoteWrite{URL: url, Timeout: 5 * time.Second,
			Buffer: config.Buffer{Dir: filepath.Join(t.TempDir(), "buffer"), MaxSize: 16 << 20}}
	}
	cfg := &config.Config{
		Outputs: []config.Output{
			{Name: "good", RemoteWrite: rw(v.WriteURL)},
			{Name: "wrongpath", RemoteWrite: rw(v.URL + "/api/v1/wirte")},
		},
		Jobs: []config.Job{{
			Name: "rw", Every: time.Minute, Method: "put", Grouping: map[string]string{"instance": "host-1"},
			Collectors: []config.Collector{{Name: "app", HTTP: &config.HTTPPlugin{URL: plugin.URL}, Timeout: 5 * time.Second,
				MaxOutput: 1 << 20, SeriesLimit: 100}},
		}},
	}
	var logs testenv.Logs
	a := newAgent(t, cfg, Options{Logger: logs.Logger()})
	c, err := a.Collect(context.Background(), "rw")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Push(ctx, c); err != nil {
		t.Fatal(err)
	}
	// 4 families plus the collector's 4 status series; the histogram and
	// summary are 5 and 3 samples, as the receiver stores them.
	const series, samples = 8, 14
	text := logs.String()
	for _, want := range []string{
		fmt.Sprintf(`level=INFO msg=buffered job=rw output=good remote_write=%s series=%d samples=%d`, v.WriteURL, series, samples),
		fmt.Sprintf(`level=INFO msg=buffered job=rw output=wrongpath remote_write=%s/api/v1/wirte series=%d samples=%d`, v.URL, series, samples),
		fmt.Sprintf(`level=INFO msg=sent output=good url=%s samples=%d`, v.WriteURL, samples),
		fmt.Sprintf(`level=ERROR msg="refused: the receiver will not take this request, so its samples are dropped, not sent" output=wrongpath url=%s/api/v1/wirte status=`, v.URL),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the log lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "msg=pushed") || strings.Contains(text, "msg=sent output=wrongpath") {
		t.Errorf("data only buffered, or refused, is logged as pushed or sent:\n%s", text)
	}
}

// TestCorruptBufferIsCounted: a flipped byte in a remote_write buffer's
// page (a bit rot, a torn write) loses that page's records; the rest is
// delivered to a real VictoriaMetrics, and the loss is counted in
// pushagent_output_buffer_corruptions_total and the output's status, not
// only logged.
func TestCorruptBufferIsCounted(t *testing.T) {
	t.Parallel()
	v := testenv.StartVictoriaMetrics(t)
	plugin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, exposition)
	}))
	defer plugin.Close()
	dir := filepath.Join(t.TempDir(), "buffer")
	cfgFor := func(url string) *config.Config {
		return &config.Config{
			Outputs: []config.Output{{Name: "tsdb", RemoteWrite: &config.RemoteWrite{URL: url, Timeout: 5 * time.Second,
				Buffer: config.Buffer{Dir: dir, MaxSize: 16 << 20}}}},
			Jobs: []config.Job{{
				Name: "rw", Every: time.Minute, Method: "put", Grouping: map[string]string{"instance": "host-1"},
				Collectors: []config.Collector{{Name: "app", HTTP: &config.HTTPPlugin{URL: plugin.URL}, Timeout: 5 * time.Second,
					MaxOutput: 1 << 20, SeriesLimit: 100}},
			}},
		}
	}
	run := func(a *Agent) {
		t.Helper()
		c, err := a.Collect(context.Background(), "rw")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = a.Push(ctx, c) // buffered; the receiver is down
	}
	down, err := New(context.Background(), cfgFor(v.URL+"/api/v1/write"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	v.Stop()
	run(down)
	if err := down.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Flip a byte of the first record.
	segs, _ := filepath.Glob(filepath.Join(dir, "0*"))
	if len(segs) == 0 {
		t.Fatal("no buffer segment written")
	}
	b, err := os.ReadFile(segs[0])
	if err != nil || len(b) < 100 {
		t.Fatalf("segment %s: %d bytes, %v", segs[0], len(b), err)
	}
	b[20] ^= 0xff
	if err := os.WriteFile(segs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	v.Restart()
	reg := prometheus.NewRegistry()
	a := newAgent(t, cfgFor(v.WriteURL), Options{Registry: reg})
	run(a)
	testenv.Eventually(t, 20*time.Second, "the record after the corrupt one delivered", func() bool {
		o := a.Outputs()
		return len(o) == 1 && o[0].SentSamples > 0 && o[0].BufferBytes == 0
	})
	want := `# HELP pushagent_output_buffer_corruptions_total Corrupt stretches of a remote_write or otlp output's buffer skipped (a torn write, a flipped bit): the records in them are lost, those after them sent.
# TYPE pushagent_output_buffer_corruptions_total counter
pushagent_output_buffer_corruptions_total{output="tsdb"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "pushagent_output_buffer_corruptions_total"); err != nil {
		t.Error(err)
	}
	if o := a.Outputs(); o[0].BufferCorruptions != 1 {
		t.Errorf("output status counts %d corruptions, want 1", o[0].BufferCorruptions)
	}
	v.WaitFor(t, `count_over_time(rw_temperature{job="rw"}[10m])`, 20*time.Second, func(s []testenv.Sample) bool { return len(s) == 1 && s[0].Value == 1 })
}
