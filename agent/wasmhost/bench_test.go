package wasmhost

import (
	"bytes"
	"context"
	"os"
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
