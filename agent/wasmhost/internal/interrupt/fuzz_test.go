package interrupt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// FuzzInstrument checks, on any input, the property the package rests on:
// Instrument never panics, refuses with one of its sentinels, or returns a
// module that wazero accepts exactly when it accepts the input, that
// exports the flag and that Instrument refuses to instrument again.
//
// wazero judges both with the interpreter, which validates as the compiler
// does but compiles faster, under the default features and under every
// feature Instrument decodes (threads, tail calls, extended constant
// expressions), with a small memory limit so that no input allocates much.
// What the inserted code does when run is for TestBudget and
// TestGCCompletesWhileGuestRuns.
func FuzzInstrument(f *testing.F) {
	fixtures, err := filepath.Glob(filepath.Join("testdata", "*.wat"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range fixtures {
		f.Add(wat(f, strings.TrimSuffix(filepath.Base(path), ".wat")))
	}
	for _, b := range [][]byte{
		body([]byte{0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b}),                                                       // loop br 0 end
		body([]byte{0xfd, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfd, 0xd6, 0x01, 0x1a, 0x0b}), // v128.const, i64x2.eq
		body([]byte{0x41, 0x00, 0xfe, 0x10, 0x02, 0x00, 0x1a, 0x0b}),                                           // i32.atomic.load
		body([]byte{0x12, 0x00, 0x0b}),                                                                         // return_call 0
		body([]byte{0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc, 0x0b, 0x00, 0x0b}),                               // memory.fill
		body([]byte{0x41, 0x00, 0xd0, 0x70, 0x41, 0x00, 0xfc, 0x11, 0x00, 0x0b}),                               // table.fill
		body([]byte{0x00, 0xfc, 0x0b, 0x00, 0x0b}),                                                             // unreachable, memory.fill
		body([]byte{0x00, 0x42, 0x00, 0xfc, 0x0a, 0x00, 0x00, 0x0b}),                                           // unreachable, i64.const, memory.copy
	} {
		f.Add(b)
	}

	ctx := context.Background()
	all := api.CoreFeaturesV2 | experimental.CoreFeaturesThreads |
		experimental.CoreFeaturesTailCall | experimental.CoreFeaturesExtendedConst
	var runtimes []wazero.Runtime
	for _, features := range []api.CoreFeatures{api.CoreFeaturesV2, all} {
		r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().
			WithCoreFeatures(features).WithMemoryLimitPages(16))
		runtimes = append(runtimes, r)
	}
	f.Cleanup(func() {
		for _, r := range runtimes {
			_ = r.Close(ctx)
		}
	})

	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Instrument(in)
		if err != nil {
			if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrReservedName) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "interrupt: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		// The import section is copied as it was and held no such name,
		// so this refusal also proves that the output exports the flag.
		if _, err := Instrument(out); !errors.Is(err, ErrReservedName) {
			t.Fatalf("instrumenting the output again: %v, want %v", err, ErrReservedName)
		}
		if hasNameSection(in) {
			// wazero decodes the name section with counts it does not
			// bound (a few bytes can make it allocate gigabytes), and
			// Instrument copies that section unread: such inputs are
			// judged by the checks above only.
			return
		}
		for i, r := range runtimes {
			inErr := compile(ctx, r, in)
			outErr := compile(ctx, r, out)
			if (inErr == nil) != (outErr == nil) {
				t.Fatalf("features %d: wazero on the input: %v; on the output: %v", i, inErr, outErr)
			}
			if outErr == nil {
				checkFlag(ctx, t, r, out)
			}
		}
	})
}

// compile reports whether wazero accepts bin. wazero v1.12.0 panics on
// some invalid modules (a call to a function whose declared type index is
// out of range), so a panic counts as a rejection: the property then still
// asks that input and output be judged alike.
// hasNameSection reports whether a module that Instrument accepted has a
// custom section named "name".
func hasNameSection(bin []byte) bool {
	for pos := len(wasmHeader); pos < len(bin); {
		d := decoder{bin: bin, pos: pos + 1, end: len(bin), fn: -1}
		size, _ := d.u32("size")
		end := d.pos + int(size)
		if bin[pos] == secCustom {
			d.end = end
			if name, _ := d.name("name"); string(name) == "name" {
				return true
			}
		}
		pos = end
	}
	return false
}

func compile(ctx context.Context, r wazero.Runtime, bin []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("wazero panicked: %v", p)
		}
	}()
	cm, err := r.CompileModule(ctx, bin)
	if err == nil {
		_ = cm.Close(ctx)
	}
	return err
}

// checkFlag instantiates a module that imports nothing and checks that its
// flag is there, mutable and clear. Modules with imports, or whose
// instantiation traps, are left to the other checks.
func checkFlag(ctx context.Context, t *testing.T, r wazero.Runtime, bin []byte) {
	t.Helper()
	mod, err := r.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return
	}
	defer mod.Close(ctx)
	flag, ok := mod.ExportedGlobal(GlobalName).(api.MutableGlobal)
	if !ok {
		t.Fatalf("instantiated output exports no mutable global %q", GlobalName)
	}
	if v := flag.Get(); v != 0 {
		t.Fatalf("flag starts at %d, want 0", v)
	}
}
