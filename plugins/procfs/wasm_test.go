package main

import (
	"os"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/pushagent/pushagent/internal/plugintest"
)

// TestUnderWazero runs the plugin as the agent does, both forms, with the
// fixtures mounted read-only at the default /host/proc. It must print exactly
// what the native build printed into the golden file.
func TestUnderWazero(t *testing.T) {
	want, err := os.ReadFile("testdata/golden.prom")
	if err != nil {
		t.Fatal(err)
	}
	fs := wazero.NewFSConfig().WithReadOnlyDirMount("testdata/proc", "/host/proc")
	t.Run("reactor", func(t *testing.T) {
		t.Parallel()
		re := plugintest.NewRuntime(t, plugintest.Build(t, ".", true)).NewReactor(fs)
		for i := range 3 {
			if res := re.Collect(`{"proc": "/host/proc"}`); res.Code != 0 || res.Stdout != string(want) {
				t.Errorf("call %d: code %d, stdout:\n%s\nstderr:\n%s", i, res.Code, res.Stdout, res.Stderr)
			}
		}
	})
	t.Run("command", func(t *testing.T) {
		t.Parallel()
		rt := plugintest.NewRuntime(t, plugintest.Build(t, ".", false))
		if res := rt.RunCommand(``, fs); res.Code != 0 || res.Stdout != string(want) {
			t.Errorf("code %d, stdout:\n%s\nstderr:\n%s", res.Code, res.Stdout, res.Stderr)
		}
		// Nothing is mounted: the sandbox has no files at all.
		res := rt.RunCommand(``, nil)
		if res.Code != 1 || !strings.Contains(res.Stderr, "reading loadavg: open /host/proc/loadavg") {
			t.Errorf("without a mount: code %d, stderr %q", res.Code, res.Stderr)
		}
	})
}

// TestWasmImports keeps the module small: see plugintest.CheckLight.
func TestWasmImports(t *testing.T) { plugintest.CheckLight(t) }
