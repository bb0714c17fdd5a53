//go:build linux || darwin || freebsd

package linmem

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"github.com/pushagent/pushagent/internal/testenv"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// buildWAT compiles src, WebAssembly text, with wabt's wat2wasm.
func buildWAT(t testing.TB, src string) []byte {
	t.Helper()
	wat2wasm := testenv.RequireBinary(t, "wat2wasm")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(in, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(wat2wasm, in, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// testdataWasm compiles testdata/<name>.wat.
func testdataWasm(t testing.TB, name string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", name+".wat"))
	if err != nil {
		t.Fatal(err)
	}
	return buildWAT(t, string(src))
}

func call(t *testing.T, mod api.Module, name string, params ...uint64) int32 {
	t.Helper()
	res, err := mod.ExportedFunction(name).Call(context.Background(), params...)
	if err != nil {
		t.Fatalf("%s%v: %v", name, params, err)
	}
	return int32(res[0])
}

// base is the address of the memory's first byte, which host code and the
// compiler engine's cached base must agree on.
func base(t *testing.T, mem api.Memory) uintptr {
	t.Helper()
	b, ok := mem.Read(0, 1)
	if !ok {
		t.Fatal("memory has no first byte")
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))
}

// engines are wazero's two: the compiler, which caches the memory's base and
// length in its own structures, where the platform has it, and the
// interpreter, which reads them from the buffer on every access.
var engines = []struct {
	name string
	cfg  wazero.RuntimeConfig
}{
	{"default", wazero.NewRuntimeConfig()},
	{"interpreter", wazero.NewRuntimeConfigInterpreter()},
}

// TestGuestGrowsToTheLimit runs grow.wat in both engines: the guest grows its
// memory to the runtime's 32 MiB limit in 1 MiB steps, touching every 4 KiB,
// sees its writes survive, and a grow past the limit returns -1.
func TestGuestGrowsToTheLimit(t *testing.T) {
	const limitPages = 512 // 32 MiB
	wasm := testdataWasm(t, "grow")
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			r := wazero.NewRuntimeWithConfig(ctx, e.cfg.WithMemoryLimitPages(limitPages))
			defer r.Close(ctx)
			mod, err := r.InstantiateWithConfig(
				experimental.WithMemoryAllocator(ctx, New()), wasm,
				wazero.NewModuleConfig().WithName(""))
			if err != nil {
				t.Fatal(err)
			}
			mem := mod.Memory()
			if got := mem.Size(); got != wasmPage {
				t.Fatalf("initial size %d, want one page", got)
			}
			if got := Committed(); got != wasmPage {
				t.Fatalf("Committed() = %d after instantiation, want %d", got, wasmPage)
			}
			// A host write the guest must not disturb, and a base the
			// growth must not move.
			mem.WriteByte(0, 0x5a)
			before := base(t, mem)

			if got := call(t, mod, "grow_to", limitPages, 16); got != limitPages {
				t.Fatalf("grow_to(%d, 16) = %d, want %d", limitPages, got, limitPages)
			}
			if got := mem.Size(); got != limitPages*wasmPage {
				t.Fatalf("size after growing %d, want %d", got, limitPages*wasmPage)
			}
			if after := base(t, mem); after != before {
				t.Fatalf("base moved from %#x to %#x", before, after)
			}
			if b, _ := mem.ReadByte(0); b != 0x5a {
				t.Fatalf("byte 0 = %#x after growing, want 0x5a", b)
			}
			if got, want := call(t, mod, "touched"), int32((limitPages-1)*16); got != want {
				t.Fatalf("touched() = %d, want %d", got, want)
			}
			if got := Committed(); got != limitPages*wasmPage {
				t.Fatalf("Committed() = %d at the limit, want %d", got, limitPages*wasmPage)
			}

			if got := call(t, mod, "grow", 1); got != -1 {
				t.Fatalf("grow(1) past the limit = %d, want -1", got)
			}
			if got := call(t, mod, "grow", 0); got != limitPages {
				t.Fatalf("grow(0) after the failed grow = %d, want %d", got, limitPages)
			}

			if err := mod.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if got := Committed(); got != 0 {
				t.Fatalf("Committed() = %d after Close, want 0", got)
			}
		})
	}
}

// TestCloseOnContextDoneReleases relies on wazero's close on context done
// releasing the memory from the goroutine that ran the call, once the guest
// has stopped (see the package doc): the memory is gone when Call returns.
func TestCloseOnContextDoneReleases(t *testing.T) {
	wasm := testdataWasm(t, "grow")
	for _, e := range engines {
		ctx := context.Background()
		r := wazero.NewRuntimeWithConfig(ctx, e.cfg.WithMemoryLimitPages(64).WithCloseOnContextDone(true))
		mod, err := r.InstantiateWithConfig(experimental.WithMemoryAllocator(ctx, New()), wasm,
			wazero.NewModuleConfig().WithName(""))
		if err != nil {
			t.Fatal(err)
		}
		call(t, mod, "grow_to", 64, 16)
		runCtx, cancel := context.WithCancel(ctx)
		go cancel()
		if _, err := mod.ExportedFunction("spin").Call(runCtx); err == nil {
			t.Fatal("spin returned without error")
		}
		if got := Committed(); got != 0 {
			t.Errorf("%s: Committed() = %d after the cancelled call, want 0", e.name, got)
		}
		_ = mod.Close(ctx)
		_ = r.Close(ctx)
	}
}

// TestUnfreedByWazeroIsReleased covers the one path found where wazero's
// compiler engine never frees a memory: the context ends during a call,
// wazero marks the module closed and leaves the release to the call's
// goroutine, and the guest then traps before a check that would do it; a
// later Close is a no-op. The memory must go once it is unreachable, as a
// []byte would. (The interpreter does free it.)
func TestUnfreedByWazeroIsReleased(t *testing.T) {
	wasm := testdataWasm(t, "trap")
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			r := wazero.NewRuntimeWithConfig(ctx, e.cfg.WithCloseOnContextDone(true))
			defer r.Close(ctx)
			// The call's context ends from inside the call, so that it
			// surely ends while the guest runs, not before the call starts
			// (a path where wazero does free the memory).
			runCtx, cancel := context.WithCancel(ctx)
			_, err := r.NewHostModuleBuilder("env").NewFunctionBuilder().
				WithFunc(func(ctx context.Context, mod api.Module) {
					cancel()
					for !mod.IsClosed() {
						runtime.Gosched()
					}
				}).Export("wait").Instantiate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			func() {
				mod, err := r.InstantiateWithConfig(experimental.WithMemoryAllocator(ctx, New()), wasm,
					wazero.NewModuleConfig().WithName(""))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := mod.ExportedFunction("run").Call(runCtx); err == nil {
					t.Fatal("run returned without error")
				}
				if err := mod.Close(ctx); err != nil {
					t.Fatal(err)
				}
				t.Logf("after the trap and Close, wazero left %d bytes unfreed", Committed())
			}()
			for i := 0; Committed() != 0; i++ {
				if i == 100 {
					t.Fatalf("Committed() = %d after %d collections, want 0", Committed(), i)
				}
				runtime.GC()
				runtime.Gosched()
			}
		})
	}
}

// recorder is an allocator that records what wazero asks of it.
type recorder struct {
	next          experimental.MemoryAllocator
	capacity, max uint64
}

func (r *recorder) Allocate(capacity, max uint64) experimental.LinearMemory {
	r.capacity, r.max = capacity, max
	return r.next.Allocate(capacity, max)
}

// TestWhatWazeroAllocates pins down the capacity and max that wazero passes
// to Allocate, on which the size of every reservation depends.
func TestWhatWazeroAllocates(t *testing.T) {
	tests := []struct {
		name             string
		memory           string // the module's memory type
		limitPages       uint32 // 0: wazero's default
		capacityFromMax  bool
		wantCap, wantMax uint64
	}{
		{name: "no declared max: the runtime's limit", memory: "1", limitPages: 512,
			wantCap: wasmPage, wantMax: 32 * mib},
		{name: "declared max below the limit", memory: "1 16", limitPages: 512,
			wantCap: wasmPage, wantMax: mib},
		{name: "declared max above the limit: the limit", memory: "1 1024", limitPages: 512,
			wantCap: wasmPage, wantMax: 32 * mib},
		{name: "no declared max nor limit: 4 GiB", memory: "2",
			wantCap: 2 * wasmPage, wantMax: 4 << 30},
		{name: "capacity from max", memory: "1 16", limitPages: 512, capacityFromMax: true,
			wantCap: mib, wantMax: mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := buildWAT(t, "(module (memory (export \"memory\") "+tt.memory+"))")
			ctx := context.Background()
			cfg := wazero.NewRuntimeConfig().WithMemoryCapacityFromMax(tt.capacityFromMax)
			if tt.limitPages != 0 {
				cfg = cfg.WithMemoryLimitPages(tt.limitPages)
			}
			r := wazero.NewRuntimeWithConfig(ctx, cfg)
			defer r.Close(ctx)
			rec := &recorder{next: New()}
			mod, err := r.InstantiateWithConfig(experimental.WithMemoryAllocator(ctx, rec), wasm,
				wazero.NewModuleConfig())
			if err != nil {
				t.Fatal(err)
			}
			if rec.capacity != tt.wantCap || rec.max != tt.wantMax {
				t.Errorf("Allocate(%d, %d), want Allocate(%d, %d)", rec.capacity, rec.max, tt.wantCap, tt.wantMax)
			}
			if err := mod.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if got := Committed(); got != 0 {
				t.Fatalf("Committed() = %d after Close, want 0", got)
			}
		})
	}
}
