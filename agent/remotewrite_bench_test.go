package agent

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

// BenchmarkRemoteWrite10k: a 10,000-series job through a remote_write
// output to VictoriaMetrics (collect from an HTTP plugin, parse, merge,
// encode, buffer, send, wait for the receiver's answer) against a bare
// library write of the same series (prompb, snappy, one POST).
func BenchmarkRemoteWrite10k(b *testing.B) {
	const n = 10000
	vm := testenv.StartVictoriaMetrics(b)
	var text strings.Builder
	text.WriteString("# TYPE bench_value gauge\n")
	series := make([]prompb.TimeSeries, n)
	for i := range n {
		fmt.Fprintf(&text, "bench_value{idx=\"%d\",pod=\"worker-%d\"} %d\n", i, i%50, i)
		series[i] = prompb.TimeSeries{
			Labels: []prompb.Label{{Name: "__name__", Value: "bench_value"}, {Name: "idx", Value: fmt.Sprint(i)},
				{Name: "instance", Value: "bench"}, {Name: "job", Value: "bench"}, {Name: "pod", Value: fmt.Sprintf("worker-%d", i%50)}},
			Samples: []prompb.Sample{{Value: float64(i)}},
		}
	}
	body := text.String()
	b.Run("bare-prompb-snappy-post", func(b *testing.B) {
		cpu0 := processCPU(b)
		for b.Loop() {
			ts := time.Now().UnixMilli()
			for i := range series {
				series[i].Samples[0].Timestamp = ts
			}
			raw, err := (&prompb.WriteRequest{Timeseries: series}).Marshal()
			if err != nil {
				b.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, vm.WriteURL, bytes.NewReader(snappy.Encode(nil, raw)))
			req.Header.Set("Content-Encoding", "snappy")
			req.Header.Set("Content-Type", "application/x-protobuf")
			req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				b.Fatal(resp.Status)
			}
		}
		// This process only: the receiver's CPU is in neither figure.
		b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N*n), "cpu-ns/sample")
	})
	b.Run("agent", func(b *testing.B) {
		cpu := benchAgentPush(b, config.Output{Name: "tsdb", RemoteWrite: &config.RemoteWrite{URL: vm.WriteURL, Timeout: 30 * time.Second,
			Buffer: config.Buffer{Dir: filepath.Join(b.TempDir(), "buffer"), MaxSize: 256 << 20}}}, body, n)
		// The whole test process: the agent, and the HTTP plugin serving
		// the text (as vmagent's figure below includes scraping it).
		b.ReportMetric(float64(cpu)/float64(b.N*n), "cpu-ns/sample")
	})
}

// BenchmarkVmagentPeer10k is the peer's figure: vmagent scraping the same
// 10,000 series from a /metrics endpoint every second and remote-writing
// them to VictoriaMetrics, as CPU per sample over 10 s.
func BenchmarkVmagentPeer10k(b *testing.B) {
	const n = 10000
	var text strings.Builder
	text.WriteString("# TYPE bench_value gauge\n")
	for i := range n {
		fmt.Fprintf(&text, "bench_value{idx=\"%d\",pod=\"worker-%d\"} %d\n", i, i%50, i)
	}
	body := []byte(text.String())
	var scrapes atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		scrapes.Add(1)
		_, _ = w.Write(body)
	}))
	defer target.Close()
	vm := testenv.StartVictoriaMetrics(b)
	// One measurement per call, whatever b.N: it is a rate over 10 s.
	va := testenv.StartVmagent(b, strings.TrimPrefix(target.URL, "http://"), vm.WriteURL, time.Second)
	testenv.Eventually(b, 30*time.Second, "vmagent's first scrapes", func() bool { return scrapes.Load() >= 2 })
	cpu0, s0 := va.CPU(b), scrapes.Load()
	time.Sleep(10 * time.Second)
	cpu1, s1 := va.CPU(b), scrapes.Load()
	b.ReportMetric(float64(cpu1-cpu0)/float64((s1-s0)*n), "cpu-ns/sample")
}

// processCPU is the user and system CPU time of this process so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchAgentPush runs a job of n series, which an HTTP plugin serves as
// body, through out: one Collect and one Push per iteration. It returns
// the process CPU the loop took, and fails the benchmark if out failed any
// sample.
func benchAgentPush(b *testing.B, out config.Output, body string, n int) time.Duration {
	plugin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) }))
	defer plugin.Close()
	cfg := &config.Config{
		Outputs: []config.Output{out},
		Jobs: []config.Job{{Name: "bench", Every: time.Minute, Method: "put", Grouping: map[string]string{"instance": "bench"},
			Collectors: []config.Collector{{Name: "c", HTTP: &config.HTTPPlugin{URL: plugin.URL}, Timeout: 30 * time.Second, MaxOutput: 16 << 20, SeriesLimit: n}}}},
	}
	a, err := New(context.Background(), cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close(context.Background())
	cpu0 := processCPU(b)
	for b.Loop() {
		c, err := a.Collect(context.Background(), "bench")
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Push(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
	cpu := processCPU(b) - cpu0
	if st := a.Outputs(); st[0].FailedSamples > 0 {
		b.Fatal(st[0].LastError)
	}
	return cpu
}
