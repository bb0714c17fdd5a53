package testenv

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// VictoriaMetrics is a running single-node VictoriaMetrics (Debian's
// victoria-metrics package), a remote-write receiver, stopped when the test
// that started it ends. Its data lives in a temporary directory that
// survives Kill and Restart.
type VictoriaMetrics struct {
	// URL is the base URL, "http://127.0.0.1:PORT".
	URL string
	// WriteURL is its remote-write endpoint.
	WriteURL string
	// OTLPURL is its OTLP endpoint (StartVictoriaMetricsOTLP only).
	OTLPURL string

	t    testing.TB
	bin  string
	data string
	args []string // extra flags
	mu   sync.Mutex
	srv  *server
}

// StartVictoriaMetrics starts VictoriaMetrics on a free 127.0.0.1 port and
// waits until /health answers. Queries see samples at once
// (-search.latencyOffset=0s, no cache), and samples with the same series
// and timestamp count once (-dedup.minScrapeInterval=1ms), so that a
// request sent twice does not count twice.
func StartVictoriaMetrics(t testing.TB) *VictoriaMetrics {
	t.Helper()
	v := &VictoriaMetrics{t: t, bin: RequireBinary(t, "victoria-metrics"), data: filepath.Join(t.TempDir(), "data")}
	v.start("")
	v.URL = "http://" + v.srv.addr
	v.WriteURL = v.URL + "/api/v1/write"
	return v
}

func (v *VictoriaMetrics) start(addr string) {
	v.t.Helper()
	srv := startServerAt(v.t, "victoria-metrics", v.bin, addr,
		func(addr string) []string {
			return append([]string{
				"-httpListenAddr=" + addr,
				"-storageDataPath=" + v.data,
				"-search.latencyOffset=0s",
				"-search.disableCache",
				"-dedup.minScrapeInterval=1ms",
				"-retentionPeriod=1",
			}, v.args...)
		},
		func(addr string) error { return checkReady("http://"+addr+"/health", "", "") })
	v.mu.Lock()
	v.srv = srv
	v.mu.Unlock()
}

// Stop shuts it down with SIGTERM, so that it writes what it holds in
// memory (a SIGKILL loses the last seconds of samples it accepted).
func (v *VictoriaMetrics) Stop() {
	v.mu.Lock()
	srv := v.srv
	v.mu.Unlock()
	srv.stop()
}

// Restart starts it again on the same address with the same data.
func (v *VictoriaMetrics) Restart() {
	v.t.Helper()
	v.mu.Lock()
	addr := v.srv.addr
	v.mu.Unlock()
	v.start(addr)
}

// Query runs an instant query (VictoriaMetrics answers the Prometheus
// query API).
func (v *VictoriaMetrics) Query(t testing.TB, promql string) []Sample {
	t.Helper()
	return (&Prometheus{URL: v.URL}).Query(t, promql)
}

// WaitFor is Prometheus.WaitFor against VictoriaMetrics.
func (v *VictoriaMetrics) WaitFor(t testing.TB, promql string, timeout time.Duration, cond func([]Sample) bool) []Sample {
	t.Helper()
	return (&Prometheus{URL: v.URL}).WaitFor(t, promql, timeout, cond)
}
