package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

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
// 10-bucket histogram each, a busier textfile directory; "10000" is one
// file of 10,000 series (bigFile), the size that once ran out of memory.
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
	big := b.TempDir()
	bigFile(b, big, 10_000)
	for _, bc := range []struct{ name, dir string }{{"fixtures", copyFixtures(b)}, {"10x100", busy}, {"10000", big}} {
		b.Run(bc.name, func(b *testing.B) {
			req := wasmhost.Request{Sandbox: wasmhost.Sandbox{Mounts: map[string]string{"/textfile": bc.dir}}}
			if _, err := p.Run(context.Background(), req); err != nil {
				b.Fatal(err)
			}
			cpu0 := processCPU(b)
			for b.Loop() {
				if _, err := p.Run(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
			// The process's CPU time, which a machine busy with other work
			// disturbs less than the wall-clock ns/op.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// TestWasmImports keeps the module small: see plugintest.CheckLight.
func TestWasmImports(t *testing.T) { plugintest.CheckLight(t) }

// bigFile writes a .prom file of n gauge series of three labels, about 63
// bytes a line: 10,000 of them make the 600 KB file a busy host's cron
// jobs can leave.
func bigFile(t testing.TB, dir string, n int) {
	t.Helper()
	var s strings.Builder
	s.WriteString("# HELP big_items Items per host.\n# TYPE big_items gauge\n")
	for j := range n {
		fmt.Fprintf(&s, "big_items{host=\"host-%05d\",kind=\"k%d\",zone=\"zone-%d\"} %d.5\n", j, j%7, j%13, j*1000)
	}
	writeFile(t, dir, "big.prom", s.String())
}

// TestWarmInstanceStaysFlat relays a 10,000-series file 100 times on one
// warm instance under the default memory_limit (32 MiB): every run must
// succeed, and after the first runs the instance's memory must not grow.
// Before the SDK settled the garbage collector at the end of a run, a
// collection cycle left half-done grew the instance by 19 MiB a run and the
// second run ran out of memory.
func TestWarmInstanceStaysFlat(t *testing.T) {
	p := plugintest.LoadReactor(t, "./plugins/textfile")
	dir := t.TempDir()
	bigFile(t, dir, 10_000)
	req := wasmhost.Request{Sandbox: wasmhost.Sandbox{Mounts: map[string]string{"/textfile": dir}}}
	const runs, warmup = 100, 3
	var settled uint64
	for i := range runs {
		out, err := p.Run(context.Background(), req)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if n := bytes.Count(out, []byte("\nbig_items{")); n != 10_000 {
			t.Fatalf("run %d: %d big_items series, want 10000", i, n)
		}
		instances, pages := p.Warm()
		if instances != 1 {
			t.Fatalf("run %d: %d warm instances, want 1", i, instances)
		}
		switch {
		case i == warmup-1:
			settled = pages
			t.Logf("%d pages (%d MiB) after %d runs", pages, pages>>4, warmup)
		case i >= warmup && pages != settled:
			t.Fatalf("run %d: the warm instance holds %d pages, %d after run %d", i, pages, settled, warmup)
		}
	}
	if c := p.Created(); c != 1 {
		t.Errorf("%d instances created for %d runs, want 1", c, runs)
	}
}

// processCPU is the CPU time, user and system, the test process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
