package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pushagent/pushagent/agent/wasmhost"
	"github.com/pushagent/pushagent/internal/testenv"
)

// loadPlugin builds the plugin as the reactor `make build` ships and loads
// it into the agent's own host, pushagent_v1 host calls included, with the
// default memory limit.
func loadPlugin(t *testing.T) *wasmhost.Plugin {
	t.Helper()
	wasm := testenv.BuildGoArgs(t, filepath.Join(t.TempDir(), "httpjson.wasm"), "./plugins/httpjson",
		[]string{"-buildmode=c-shared"}, "GOOS=wasip1", "GOARCH=wasm")
	opts := wasmhost.Options{}
	// Compiling a Go module takes seconds, and minutes under the race
	// detector; the on-disk cache makes that once per module version.
	if dir, err := os.UserCacheDir(); err == nil {
		opts.CacheDir = filepath.Join(dir, "pushagent-wasmtest")
	}
	h, err := wasmhost.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	p, err := h.Load(context.Background(), wasm, 32<<20)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// syncBuffer collects the run's log lines; the host writes them from its
// own goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

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
	p := loadPlugin(t)
	config := goldenConfig(t, tg.URL+"/status")

	for i := range 2 { // the second call runs on the warm instance
		var logs syncBuffer
		got, err := p.Run(context.Background(), wasmhost.Request{
			Config: config,
			HTTP:   wasmhost.HTTPGrant{AllowHosts: []string{addr}},
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		if err != nil {
			t.Fatalf("run %d: %v\nlogs:\n%s", i, err, logs.String())
		}
		if !bytes.Equal(got, want) {
			t.Errorf("run %d: wasm output differs from the native golden file:\n%s", i, got)
		}
	}

	var logs syncBuffer
	_, err = p.Run(context.Background(), wasmhost.Request{
		Config: config,
		HTTP:   wasmhost.HTTPGrant{AllowHosts: []string{"127.0.0.1:1"}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err == nil {
		t.Fatal("a host outside allow_hosts was reached")
	}
	wantLog := `pushagent_v1.http_request: host ` + addr + ` is not in the collector's allow_hosts [127.0.0.1:1]`
	if !strings.Contains(logs.String(), wantLog) {
		t.Errorf("logs do not contain %q:\n%s", wantLog, logs.String())
	}
}
