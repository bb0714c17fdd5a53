package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/agent/wasmhost"
	"github.com/pushagent/pushagent/internal/plugintest"
	"github.com/pushagent/pushagent/internal/testenv"
)

// TestUnderAgentHost runs the real module through wasmhost against a
// test server: the output must be the native golden file byte for byte,
// and a host outside allow_hosts must fail the run with the host's reason.
func TestUnderAgentHost(t *testing.T) {
	want, err := os.ReadFile("testdata/golden.prom")
	if err != nil {
		t.Fatal(err)
	}
	tg := newTarget(t, http.StatusOK, readTarget(t))
	addr := strings.TrimPrefix(tg.URL, "http://")
	p := plugintest.LoadReactor(t, "./plugins/scrape")
	config := goldenConfig(t, tg.URL+"/metrics")

	for i := range 2 { // the second call runs on the warm instance
		var logs testenv.Logs
		got, err := p.Run(context.Background(), wasmhost.Request{
			Config: config,
			HTTP:   wasmhost.HTTPGrant{AllowHosts: []string{addr}},
			Logger: logs.Logger(),
		})
		if err != nil {
			t.Fatalf("run %d: %v\nlogs:\n%s", i, err, logs.String())
		}
		if !bytes.Equal(got, want) {
			t.Errorf("run %d: wasm output differs from the native golden file:\n%s", i, got)
		}
		// The headers cross the ABI: the config's and the default Accept.
		req := tg.lastRequest()
		if got := req.Header.Get("Authorization"); got != "Bearer s3cret" {
			t.Errorf("run %d: Authorization header %q", i, got)
		}
		if got := req.Header.Get("Accept"); got != accept {
			t.Errorf("run %d: Accept header %q", i, got)
		}
	}

	var logs testenv.Logs
	_, err = p.Run(context.Background(), wasmhost.Request{
		Config: config,
		HTTP:   wasmhost.HTTPGrant{AllowHosts: []string{"127.0.0.1:1"}},
		Logger: logs.Logger(),
	})
	if err == nil {
		t.Fatal("a host outside allow_hosts was scraped")
	}
	wantLog := `pushagent_v1.http_request: host ` + addr + ` is not in the collector's allow_hosts [127.0.0.1:1]`
	// The host's reason reaches the operator once: in the run's error,
	// which the agent logs, or in the plugin's log lines.
	if seen := err.Error() + "\n" + logs.String(); !strings.Contains(seen, wantLog) {
		t.Errorf("neither the error nor the logs contain %q:\n%s", wantLog, seen)
	}
}

// BenchmarkReactor is one scrape on a warm instance through the agent's
// own host, the golden config against a test server: what a run costs the
// sidecar. "target" serves testdata/target.prom; "500" serves 500 series
// of five families, a worker's usual /metrics.
func BenchmarkReactor(b *testing.B) {
	p := plugintest.LoadReactor(b, "./plugins/scrape")
	var big strings.Builder
	for i := range 5 {
		fmt.Fprintf(&big, "# HELP worker_family%d_total Family %d.\n# TYPE worker_family%[1]d_total counter\n", i, i)
		for j := range 100 {
			fmt.Fprintf(&big, "worker_family%d_total{env=\"dev\",path=\"/api/v1/item%d\",code=\"%d\"} %d\n", i, j, 200+j%5, j*17)
		}
	}
	for _, bc := range []struct {
		name string
		body []byte
	}{{"target", readTarget(b)}, {"500", []byte(big.String())}} {
		b.Run(bc.name, func(b *testing.B) {
			tg := newTarget(b, http.StatusOK, bc.body)
			req := wasmhost.Request{
				Config: goldenConfig(b, tg.URL+"/metrics"),
				HTTP:   wasmhost.HTTPGrant{AllowHosts: []string{strings.TrimPrefix(tg.URL, "http://")}},
			}
			if _, err := p.Run(context.Background(), req); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := p.Run(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestWasmImports keeps the module small: see plugintest.CheckLight.
func TestWasmImports(t *testing.T) { plugintest.CheckLight(t) }
