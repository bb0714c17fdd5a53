package main

import (
	"bytes"
	"context"
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
	tg := newServer(t, http.StatusOK, readFile(t, "testdata/status.json"))
	addr := strings.TrimPrefix(tg.URL, "http://")
	p := plugintest.LoadReactor(t, "./plugins/httpjson")
	config := goldenConfig(t, tg.URL+"/status")

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
	}

	var logs testenv.Logs
	_, err = p.Run(context.Background(), wasmhost.Request{
		Config: config,
		HTTP:   wasmhost.HTTPGrant{AllowHosts: []string{"127.0.0.1:1"}},
		Logger: logs.Logger(),
	})
	if err == nil {
		t.Fatal("a host outside allow_hosts was reached")
	}
	wantLog := `pushagent_v1.http_request: host ` + addr + ` is not in the collector's allow_hosts [127.0.0.1:1]`
	// The host's reason reaches the operator once: in the run's error,
	// which the agent logs, or in the plugin's log lines.
	if seen := err.Error() + "\n" + logs.String(); !strings.Contains(seen, wantLog) {
		t.Errorf("neither the error nor the logs contain %q:\n%s", wantLog, seen)
	}
}

// TestWasmImports keeps the module small: see plugintest.CheckLight.
func TestWasmImports(t *testing.T) { plugintest.CheckLight(t) }
