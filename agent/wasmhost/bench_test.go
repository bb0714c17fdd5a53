package wasmhost

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/pushagent/pushagent/agent/wasmhost/internal/interrupt"
	"github.com/pushagent/pushagent/internal/testenv"
)

// BenchmarkEnsureTermination is the cost of being able to stop a plugin:
// the benchmark collector (internal/benchplugin, 20 series) called warm on
// raw wazero runtimes three ways. unprotected cannot be stopped;
// close-on-context-done is wazero's check, an exit to Go at every loop
// header; inline-check is the module instrumented at load (package
// interrupt), with the option off: what the host runs.
func BenchmarkEnsureTermination(b *testing.B) {
	wasm := testenv.BuildGoArgs(b, "bench-reactor.wasm", "./internal/benchplugin", []string{"-buildmode=c-shared"}, "GOOS=wasip1", "GOARCH=wasm")
	orig, err := os.ReadFile(wasm)
	if err != nil {
		b.Fatal(err)
	}
	inst, err := interrupt.Instrument(orig)
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name        string
		bin         []byte
		closeOnDone bool
	}{
		{"unprotected", orig, false},
		{"close-on-context-done", orig, true},
		{"inline-check", inst, false},
	} {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(v.closeOnDone))
			defer r.Close(ctx)
			wasi_snapshot_preview1.MustInstantiate(ctx, r)
			cm, err := r.CompileModule(ctx, v.bin)
			if err != nil {
				b.Fatal(err)
			}
			in := &bytes.Reader{}
			var out bytes.Buffer
			mod, err := r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithStdin(in).WithStdout(&out).
				WithStartFunctions("_initialize").WithSysNanotime().WithSysWalltime())
			if err != nil {
				b.Fatal(err)
			}
			fn := mod.ExportedFunction(collectExport)
			for b.Loop() {
				in.Reset([]byte(`{"series":20}`))
				out.Reset()
				if _, err := fn.Call(ctx); err != nil || out.Len() == 0 {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoadRetained is what a loaded Go plugin (internal/benchplugin,
// a reactor) keeps on the agent's Go heap: the heap in use after a
// collection, with the plugin loaded from a warm compilation cache, less
// the heap before. It is the part of a plugin's memory that the host's own
// choices decide (what it asks wazero for, what it holds on to); the
// machine code and the instances' linear memory are outside the Go heap.
func BenchmarkLoadRetained(b *testing.B) {
	wasm := testenv.BuildGoArgs(b, "bench-reactor.wasm", "./internal/benchplugin", []string{"-buildmode=c-shared"}, "GOOS=wasip1", "GOARCH=wasm")
	cache := b.TempDir()
	warm := func() *Host {
		h, err := New(Options{CacheDir: cache})
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	h := warm()
	if _, err := h.Load(context.Background(), wasm, 32<<20); err != nil {
		b.Fatal(err)
	}
	_ = h.Close(context.Background())
	var retained uint64
	for b.Loop() {
		h := warm()
		before := heapInUse()
		p, err := h.Load(context.Background(), wasm, 32<<20)
		if err != nil {
			b.Fatal(err)
		}
		retained += heapInUse() - before
		runtime.KeepAlive(p)
		_ = h.Close(context.Background())
	}
	b.ReportMetric(float64(retained)/float64(b.N)/(1<<20), "retained-MiB")
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
