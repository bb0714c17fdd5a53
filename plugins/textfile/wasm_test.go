package main

import (
	"os"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/pushagent/pushagent/sdk/wasmtest"
)

// TestReactorUnderWazero runs the plugin as the agent does: built as a
// reactor, the fixtures mounted read-only at the default /textfile, called
// repeatedly on one instance. It must print exactly what the native build
// printed into the golden file.
func TestReactorUnderWazero(t *testing.T) {
	want, err := os.ReadFile("testdata/golden.prom")
	if err != nil {
		t.Fatal(err)
	}
	rt := wasmtest.NewRuntime(t, wasmtest.Build(t, ".", true))
	re := rt.NewReactor(wazero.NewFSConfig().WithReadOnlyDirMount(copyFixtures(t), "/textfile"))
	for i, config := range []string{``, `{"directory": "/textfile"}`, `{"directory": "/elsewhere"}`, ``} {
		res := re.Collect(config)
		if config == `{"directory": "/elsewhere"}` {
			if res.Code == 0 || !strings.Contains(res.Stderr, `reading textfile directory: open /elsewhere`) {
				t.Errorf("call %d with an unmounted directory: code %d, stderr %q", i, res.Code, res.Stderr)
			}
			continue
		}
		if res.Code != 0 || res.Stdout != string(want) {
			t.Errorf("call %d: code %d, stdout:\n%s\nstderr:\n%s", i, res.Code, res.Stdout, res.Stderr)
		}
	}
}
