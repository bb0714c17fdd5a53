package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/pushagent/pushagent/agent/wasmhost"
	"github.com/pushagent/pushagent/internal/plugintest"
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
	rt := plugintest.NewRuntime(t, plugintest.Build(t, ".", true))
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
		if !strings.Contains(res.Stderr, `msg="skipping file" file=broken.prom`) {
			t.Errorf("call %d: the broken file is not logged:\n%s", i, res.Stderr)
		}
	}
}

// BenchmarkReactor is one collection on a warm instance through the
// agent's own host: what a run costs the sidecar. "fixtures" is
// testdata/textfile; "10x100" is ten files of 100 gauge series and a
// 10-bucket histogram each, a busier textfile directory.
func BenchmarkReactor(b *testing.B) {
	p := plugintest.LoadReactor(b, "./plugins/textfile")
	busy := b.TempDir()
	for i := range 10 {
		var s strings.Builder
		fmt.Fprintf(&s, "# HELP batch%d_items Items of batch %d.\n# TYPE batch%[1]d_items gauge\n", i, i)
		for j := range 100 {
			fmt.Fprintf(&s, "batch%d_items{host=\"h%d\",kind=\"k%d\"} %d.5\n", i, j, j%7, j*1000)
		}
		fmt.Fprintf(&s, "# TYPE batch%d_seconds histogram\n", i)
		for j := range 10 {
			fmt.Fprintf(&s, "batch%d_seconds_bucket{le=\"%d\"} %d\n", i, 1<<j, j)
		}
		fmt.Fprintf(&s, "batch%d_seconds_bucket{le=\"+Inf\"} 10\nbatch%[1]d_seconds_sum 99.5\nbatch%[1]d_seconds_count 10\n", i)
		writeFile(b, busy, fmt.Sprintf("batch%d.prom", i), s.String())
	}
	for _, bc := range []struct{ name, dir string }{{"fixtures", copyFixtures(b)}, {"10x100", busy}} {
		b.Run(bc.name, func(b *testing.B) {
			req := wasmhost.Request{Sandbox: wasmhost.Sandbox{Mounts: map[string]string{"/textfile": bc.dir}}}
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
