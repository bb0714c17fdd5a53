package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/agent/wasmhost"
	"github.com/pushagent/pushagent/internal/plugintest"
	"github.com/pushagent/pushagent/internal/testenv"
)

// durationLine is the one line of the golden file that depends on the clock,
// which the wasm run reads for real.
var durationLine = regexp.MustCompile(`(?m)^probe_duration_seconds (.+)$`)

// TestUnderAgentHost runs the real module through wasmhost against an
// HTTPS test server whose CA the grant names: the output must be the native
// golden file but for the measured duration. A host outside allow_hosts is
// a failed probe, not a failed run, and the log says why.
func TestUnderAgentHost(t *testing.T) {
	want, err := os.ReadFile("testdata/golden.prom")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(healthHandler))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")
	p := plugintest.LoadReactor(t, "./plugins/httpprobe")
	config := goldenConfig(t, srv.URL+"/health")

	for i := range 2 { // the second call runs on the warm instance
		var logs testenv.Logs
		got, err := p.Run(context.Background(), wasmhost.Request{
			Config: config,
			HTTP:   wasmhost.HTTPGrant{AllowHosts: []string{addr}, CAFile: caFile},
			Logger: logs.Logger(),
		})
		if err != nil {
			t.Fatalf("run %d: %v\nlogs:\n%s", i, err, logs.String())
		}
		m := durationLine.FindSubmatch(got)
		if m == nil {
			t.Fatalf("run %d: no probe_duration_seconds:\n%s", i, got)
		}
		if d, err := strconv.ParseFloat(string(m[1]), 64); err != nil || d <= 0 || d > 2 {
			t.Errorf("run %d: probe_duration_seconds %s", i, m[1])
		}
		got = durationLine.ReplaceAll(got, durationLine.Find(want))
		if !bytes.Equal(got, want) {
			t.Errorf("run %d: wasm output differs from the native golden file:\n%s\nlogs:\n%s", i, got, logs.String())
		}
	}

	var logs testenv.Logs
	got, err := p.Run(context.Background(), wasmhost.Request{
		Config: config,
		HTTP:   wasmhost.HTTPGrant{AllowHosts: []string{"127.0.0.1:1"}, CAFile: caFile},
		Logger: logs.Logger(),
	})
	if err != nil {
		t.Fatalf("a failed probe failed the run: %v\nlogs:\n%s", err, logs.String())
	}
	if !strings.Contains(string(got), "probe_success 0\n") || !strings.Contains(string(got), "probe_http_status_code 0\n") {
		t.Errorf("output:\n%s", got)
	}
	wantLog := `pushagent_v1.http_request: host ` + addr + ` is not in the collector's allow_hosts [127.0.0.1:1]`
	if !strings.Contains(logs.String(), wantLog) {
		t.Errorf("logs do not contain %q:\n%s", wantLog, logs.String())
	}
}

// TestWasmImports keeps the module small: see plugintest.CheckLight.
func TestWasmImports(t *testing.T) { plugintest.CheckLight(t) }
