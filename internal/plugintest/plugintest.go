// Package plugintest holds what the tests of plugins and of the SDK share:
// the golden-file comparison of their output, loading a plugin built as
// the reactor `make build` ships into the agent's own wasm host
// (LoadReactor), and building a plugin to run it under a bare wazero
// runtime with directories mounted (Build, NewRuntime). It is imported by
// tests only; testenv.Logs collects their runs' logs. It must never give a
// plugin under test more than the agent would: what passes here must pass
// in the agent.
package plugintest

import (
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/pushagent/pushagent/agent/wasmhost"
	"github.com/pushagent/pushagent/internal/testenv"
)

// Golden compares got with the file at path, or rewrites the file when
// update is set (each plugin's `go test -update`).
func Golden(t testing.TB, file string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update to accept):\n%s", file, got)
	}
}

// LoadReactor builds the plugin package pkg (like "./plugins/scrape") as a
// reactor and loads it into a wasmhost.Host with a 32 MiB memory limit,
// pushagent_v1 host calls included.
func LoadReactor(t testing.TB, pkg string) *wasmhost.Plugin {
	t.Helper()
	wasm := testenv.BuildGoArgs(t, filepath.Join(t.TempDir(), path.Base(pkg)+".wasm"), pkg,
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
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	p, err := h.Load(context.Background(), wasm, 32<<20)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
