package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/agent/wasmhost"
	"github.com/pushagent/pushagent/internal/plugintest"
	"github.com/pushagent/pushagent/internal/testenv"
)

// TestUnderAgentHost runs the golden script through wasmhost as the agent
// does: the script read from a read-only mount, its HTTP through the
// http_request host call to a test server on the allow-list, several runs
// on one warm instance. The output must be the native golden file byte for
// byte, and the script must be compiled on the first run only.
func TestUnderAgentHost(t *testing.T) {
	want, err := os.ReadFile("testdata/golden.prom")
	if err != nil {
		t.Fatal(err)
	}
	srv := statsServer(t)
	addr := strings.TrimPrefix(srv.URL, "http://")
	scripts, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	p := plugintest.LoadReactor(t, "./plugins/starlark")
	config, err := json.Marshal(map[string]any{
		"script_file": "/scripts/queue.star",
		"vars":        map[string]any{"url": srv.URL + "/stats", "env": "prod"},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := func(logs *testenv.Logs, allow ...string) wasmhost.Request {
		return wasmhost.Request{
			Config:  config,
			Sandbox: wasmhost.Sandbox{Mounts: map[string]string{"/scripts": scripts}},
			HTTP:    wasmhost.HTTPGrant{AllowHosts: allow},
			Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		}
	}

	var logs testenv.Logs
	for i := range 3 { // the later calls run on the warm instance
		got, err := p.Run(context.Background(), req(&logs, addr))
		if err != nil {
			t.Fatalf("run %d: %v\nlogs:\n%s", i, err, logs.String())
		}
		if !bytes.Equal(got, want) {
			t.Errorf("run %d: wasm output differs from the native golden file:\n%s", i, got)
		}
	}
	if n := strings.Count(logs.String(), "compiled script"); n != 1 {
		t.Errorf("3 runs on a warm instance compiled the script %d times, want 1:\n%s", n, logs.String())
	}

	// Without the server on the allow-list the script fails where it asks,
	// with the host's reason. (The plugin's stderr is logfmt inside the
	// host's logfmt, so quotes are escaped twice; match around them.)
	logs = testenv.Logs{}
	_, err = p.Run(context.Background(), req(&logs, "127.0.0.1:1"))
	if err == nil {
		t.Fatal("a host outside allow_hosts was reached")
	}
	// The reason reaches the operator once: in the run's error, which the
	// agent logs, or in the plugin's log lines.
	seen := err.Error() + "\n" + logs.String()
	for _, want := range []string{
		`/scripts/queue.star:4:16: in <toplevel>`,
		`Error in http.get: Get `,
		`pushagent_v1.http_request: host ` + addr + ` is not in the collector's allow_hosts [127.0.0.1:1]`,
	} {
		if !strings.Contains(seen, want) {
			t.Errorf("neither the error nor the logs contain %q:\n%s", want, seen)
		}
	}
}

// TestWasmImports keeps the module small: see plugintest.CheckLight.
func TestWasmImports(t *testing.T) { plugintest.CheckLight(t) }
