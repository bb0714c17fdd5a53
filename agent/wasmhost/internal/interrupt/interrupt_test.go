package interrupt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"go.uber.org/goleak"
)

var (
	// buildDir holds the Go module the tests build, for the whole test
	// binary.
	buildDir string
	// compiled shares compiled code between tests: compiling the Go module
	// takes seconds, under the race detector ten times as long.
	compiled = wazero.NewCompilationCache()
)

func TestMain(m *testing.M) {
	// A child of TestGCCompletesWhileGuestRuns builds nothing, and may be
	// killed: it leaves no directory behind.
	if os.Getenv(childModuleEnv) == "" {
		dir, err := os.MkdirTemp("", "interrupt-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		buildDir = dir
	}
	code := m.Run()
	_ = compiled.Close(context.Background())
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// stopWait bounds how long a test waits for a guest to stop after the
// flag is set: far longer than it takes, so that only a guest that never
// stops fails.
const stopWait = 10 * time.Second

// wat converts testdata/<name>.wat to a binary. A first line
// ";; flags: ..." lists extra converter flags (features, --no-check).
func wat(t testing.TB, name string) []byte {
	t.Helper()
	tool := testenv.RequireBinary(t, "wat2wasm")
	src := filepath.Join("testdata", name+".wat")
	text, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{src, "--output=-"}
	if first, _, _ := strings.Cut(string(text), "\n"); strings.HasPrefix(first, ";; flags:") {
		args = append(strings.Fields(strings.TrimPrefix(first, ";; flags:")), args...)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(tool, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("convert %s: %v\n%s", src, err, stderr.Bytes())
	}
	return out
}

// goModule builds testdata/goplugin as a WASI reactor, once per test binary.
func goModule(t testing.TB) []byte {
	t.Helper()
	path := testenv.BuildGoArgs(t, filepath.Join(buildDir, "goplugin.wasm"),
		"./agent/wasmhost/internal/interrupt/testdata/goplugin",
		[]string{"-buildmode=c-shared"}, "GOOS=wasip1", "GOARCH=wasm")
	bin, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func mustInstrument(t testing.TB, bin []byte) []byte {
	t.Helper()
	out, err := Instrument(bin)
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	return out
}

// guest is a module instantiated for a test, with the env functions the
// fixtures import: started signals that guest code runs, tick counts.
type guest struct {
	mod     api.Module
	started chan struct{}
}

// instantiate runs bin on a runtime with the given features and
// close-on-context-done off: an instrumented module must stop without
// wazero's help.
func instantiate(t testing.TB, bin []byte, features api.CoreFeatures) *guest {
	t.Helper()
	return instantiateWith(t, bin, wazero.NewRuntimeConfig().WithCloseOnContextDone(false).WithCoreFeatures(features))
}

func instantiateWith(t testing.TB, bin []byte, cfg wazero.RuntimeConfig) *guest {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, cfg.WithCompilationCache(compiled))
	t.Cleanup(func() { _ = r.Close(ctx) })
	g := &guest{started: make(chan struct{}, 1)}
	_, err := r.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithFunc(func() {
		select {
		case g.started <- struct{}{}:
		default:
		}
	}).Export("started").
		NewFunctionBuilder().WithFunc(func() {}).Export("tick").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	// No start functions: like the host, call _initialize once the
	// module (and so its flag) is in hand.
	g.mod, err = r.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithStartFunctions())
	if err != nil {
		t.Fatal(err)
	}
	if init := g.mod.ExportedFunction("_initialize"); init != nil {
		if _, err := init.Call(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func (g *guest) flag(t *testing.T) api.MutableGlobal {
	t.Helper()
	f, ok := g.mod.ExportedGlobal(GlobalName).(api.MutableGlobal)
	if !ok {
		t.Fatalf("module exports no mutable global %q", GlobalName)
	}
	return f
}

func TestInstrumentStopsRunawayGuest(t *testing.T) {
	withTailCalls := api.CoreFeaturesV2 | experimental.CoreFeaturesTailCall
	for _, tc := range []struct {
		name, fixture, export string
		features              api.CoreFeatures
	}{
		{"loop that never calls out", "runaway", "spin", api.CoreFeaturesV2},
		{"recursion without a loop", "runaway", "recurse", api.CoreFeaturesV2},
		{"loop that calls the host", "runaway", "host_loop", api.CoreFeaturesV2},
		{"loop of 16 MiB fills", "runaway", "fill_loop", api.CoreFeaturesV2},
		{"endless tail calls", "tailcall", "tail", withTailCalls},
		{"Go for {}", "", "spin", api.CoreFeaturesV2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bin []byte
			if tc.fixture == "" {
				bin = goModule(t)
			} else {
				bin = wat(t, tc.fixture)
			}
			g := instantiate(t, mustInstrument(t, bin), tc.features)
			flag := g.flag(t)
			done := make(chan error, 1)
			go func() {
				_, err := g.mod.ExportedFunction(tc.export).Call(context.Background())
				done <- err
			}()
			select {
			case <-g.started:
			case err := <-done:
				t.Fatalf("%s returned before it started: %v", tc.export, err)
			case <-time.After(stopWait):
				t.Fatalf("%s did not start within %v", tc.export, stopWait)
			}
			flag.Set(1)
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "unreachable") {
					t.Fatalf("%s stopped with %v, want the unreachable trap", tc.export, err)
				}
			case <-time.After(stopWait):
				t.Fatalf("%s still runs %v after the flag was set", tc.export, stopWait)
			}
		})
	}
}

func TestInstrumentKeepsResults(t *testing.T) {
	compute := wat(t, "compute")
	goBin := goModule(t)
	for _, tc := range []struct {
		bin    []byte
		export string
		args   []uint64
		want   []uint64 // nil: only compare with the original
	}{
		{compute, "sum", []uint64{100}, []uint64{5050}},
		{compute, "collatz", []uint64{27}, []uint64{111}},
		{compute, "classify", []uint64{10}, []uint64{222}},
		{compute, "divmod", []uint64{17, 5}, []uint64{3, 2}},
		{compute, "countdown", []uint64{5}, []uint64{0}},
		{compute, "nested", []uint64{4}, []uint64{36}},
		{compute, "fib", []uint64{15}, []uint64{610}},
		{compute, "bulk", nil, nil},
		{compute, "bulklocals", []uint64{10, 5}, []uint64{35 + 5 + 13 + 0x0d0d0d0d0d0d0d0d}},
		{compute, "simd", []uint64{3}, nil},
		{goBin, "work", []uint64{20}, nil},
	} {
		t.Run(tc.export, func(t *testing.T) {
			var got [2][]uint64
			for i, bin := range [][]byte{tc.bin, mustInstrument(t, tc.bin)} {
				g := instantiate(t, bin, api.CoreFeaturesV2)
				res, err := g.mod.ExportedFunction(tc.export).Call(context.Background(), tc.args...)
				if err != nil {
					t.Fatal(err)
				}
				got[i] = res
			}
			if fmt.Sprint(got[0]) != fmt.Sprint(got[1]) {
				t.Errorf("instrumented %s%v = %v, original = %v", tc.export, tc.args, got[1], got[0])
			}
			if tc.want != nil && fmt.Sprint(got[0]) != fmt.Sprint(tc.want) {
				t.Errorf("%s%v = %v, want %v", tc.export, tc.args, got[0], tc.want)
			}
		})
	}
}

// TestInstrumentGolden pins the rewrite down to the byte: the check's
// encoding and places, the flag's index, the export's place.
func TestInstrumentGolden(t *testing.T) {
	got := mustInstrument(t, wat(t, "golden"))
	if want := wat(t, "golden.instrumented"); !bytes.Equal(got, want) {
		t.Errorf("Instrument(golden.wat) differs from golden.instrumented.wat:\n got %x\nwant %x", got, want)
	}
}

// TestInstrumentCopiesOtherSections checks on a real Go module that every
// section but the global, export, code and data sections comes out
// unchanged and in place, custom sections included, and that the data
// section, merged into far fewer segments, still writes the same memory.
func TestInstrumentCopiesOtherSections(t *testing.T) {
	in := goModule(t)
	out := mustInstrument(t, in)
	a, b := sectionsOf(t, in), sectionsOf(t, out)
	if len(a) != len(b) {
		t.Fatalf("%d sections in, %d out", len(a), len(b))
	}
	for i := range a {
		switch a[i][0] {
		case secGlobal, secExport, secCode, secData:
			if a[i][0] != b[i][0] {
				t.Errorf("section %d: id %d became %d", i, a[i][0], b[i][0])
			}
			if a[i][0] != secCode {
				continue
			}
			// A Go module has a check every 900 bytes or so, and a check
			// is some 30 bytes: 4% growth.
			if len(b[i]) < len(a[i]) || len(b[i]) > len(a[i])+len(a[i])*8/100 {
				t.Errorf("code section is %d bytes for %d in: more than 8%% growth", len(b[i]), len(a[i]))
			}
		default:
			if !bytes.Equal(a[i], b[i]) {
				t.Errorf("section %d (id %d) changed", i, a[i][0])
			}
		}
	}
	segsIn, segsOut := dataSegments(t, in), dataSegments(t, out)
	if len(segsOut) > len(segsIn)/100 {
		t.Errorf("%d data segments in, %d out: the Go linker's segments should merge to a handful", len(segsIn), len(segsOut))
	}
	if !bytes.Equal(paint(segsIn), paint(segsOut)) {
		t.Error("the merged data segments write different memory")
	}
}

// TestDataMerge checks the merge rules on segments that must and must not
// merge: memory after instantiation is the same, in fewer segments.
func TestDataMerge(t *testing.T) {
	in := wat(t, "data")
	out := mustInstrument(t, in)
	// 0-2 | 3 | 4 | 5 | 6 | 7-8.
	if got := len(dataSegments(t, out)); got != 6 {
		t.Errorf("%d segments after the merge, want 6", got)
	}
	var mem [2][]byte
	for i, bin := range [][]byte{in, out} {
		g := instantiate(t, bin, api.CoreFeaturesV2)
		m, ok := g.mod.Memory().Read(0, g.mod.Memory().Size())
		if !ok {
			t.Fatal("memory not readable")
		}
		mem[i] = m
	}
	for i := range mem[0] {
		if mem[0][i] != mem[1][i] {
			t.Errorf("memory differs after the merge from offset %d: %q, want %q", i, mem[1][i:min(i+8, len(mem[1]))], mem[0][i:min(i+8, len(mem[0]))])
			break
		}
	}
	// A data count section pins the number of segments: nothing merges.
	if in, out := wat(t, "compute"), mustInstrument(t, wat(t, "compute")); len(dataSegments(t, in)) != len(dataSegments(t, out)) {
		t.Error("segments merged in a module with a data count section")
	}
}

// segment is an active data segment as a test reads it, independently of
// the package's decoder: offset -1 for anything else.
type segment struct {
	offset int64
	init   []byte
}

// dataSegments lists the data section of bin.
func dataSegments(t *testing.T, bin []byte) []segment {
	t.Helper()
	for _, sec := range sectionsOf(t, bin) {
		if sec[0] != secData {
			continue
		}
		d := decoder{bin: sec, pos: 1, end: len(sec), fn: -1}
		if _, err := d.u32("size"); err != nil {
			t.Fatal(err)
		}
		n, err := d.u32("count")
		if err != nil {
			t.Fatal(err)
		}
		var out []segment
		for range n {
			flags, _ := d.u32("flags")
			sg := segment{offset: -1}
			if flags == 2 {
				_, _ = d.u32("memory")
			}
			if flags != 1 {
				if d.bin[d.pos] == opI32Const {
					d.pos++
					v, _ := d.signed(32, "offset")
					sg.offset = int64(uint32(v))
				}
				for d.bin[d.pos] != opEnd {
					d.pos++
				}
				d.pos++
			}
			if sg.init, err = d.name("init"); err != nil {
				t.Fatal(err)
			}
			out = append(out, sg)
		}
		return out
	}
	return nil
}

// paint applies active segments in order to a zeroed memory.
func paint(segs []segment) []byte {
	var mem []byte
	for _, sg := range segs {
		if sg.offset < 0 {
			continue
		}
		if end := int(sg.offset) + len(sg.init); end > len(mem) {
			mem = append(mem, make([]byte, end-len(mem))...)
		}
		copy(mem[sg.offset:], sg.init)
	}
	return mem
}

func sectionsOf(t *testing.T, bin []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for pos := len(wasmHeader); pos < len(bin); {
		d := decoder{bin: bin, pos: pos + 1, end: len(bin), fn: -1}
		size, err := d.u32("size")
		if err != nil {
			t.Fatal(err)
		}
		end := d.pos + int(size)
		out = append(out, bin[pos:end])
		pos = end
	}
	return out
}

// body builds a module of one () -> () function per body, with a memory
// and a table, for instruction sequences no text format writes.
func body(bodies ...[]byte) []byte {
	sec := func(id byte, payload ...byte) []byte {
		return append(appendU32([]byte{id}, uint32(len(payload))), payload...)
	}
	bin := append([]byte{}, wasmHeader...)
	bin = append(bin, sec(secType, 1, 0x60, 0, 0)...)
	fns := appendU32(nil, uint32(len(bodies)))
	code := appendU32(nil, uint32(len(bodies)))
	for _, b := range bodies {
		fns = append(fns, 0)
		code = appendU32(code, uint32(len(b)+1))
		code = append(append(code, 0), b...) // no locals
	}
	bin = append(bin, sec(secFunction, fns...)...)
	bin = append(bin, sec(secTable, 1, 0x70, 0, 1)...)
	bin = append(bin, sec(secMemory, 1, 0, 1)...)
	return append(bin, sec(secCode, code...)...)
}

func TestInstrumentRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fixture string // testdata/<fixture>.wat, or
		bin     []byte // these bytes
		want    error
		text    string // in the message
	}{
		{name: "exports the reserved name", fixture: "reserved_export", want: ErrReservedName, text: "export 0"},
		{name: "imports the reserved name", fixture: "reserved_import", want: ErrReservedName, text: "import 0"},
		{name: "global.get past the globals", fixture: "bad_global_get", want: ErrInvalid, text: "function 0"},
		{name: "global.set past the globals", fixture: "bad_global_set", want: ErrInvalid, text: "global index 1 out of range"},
		{name: "global initialiser past the globals", fixture: "bad_global_init", want: ErrInvalid, text: "global 1"},
		{name: "data offset past the globals", fixture: "bad_data_offset", want: ErrInvalid, text: "data segment 0"},
		{name: "element offset past the globals", fixture: "bad_elem_offset", want: ErrInvalid, text: "element segment 0"},
		{name: "element initialiser past the globals", fixture: "bad_elem_init", want: ErrInvalid, text: "element segment 0"},
		{name: "global export past the globals", fixture: "bad_global_export", want: ErrInvalid, text: "export 0"},
		{name: "start function", fixture: "start", want: ErrUnsupported, text: "start section"},
		{name: "no memory", bin: append(append([]byte{}, wasmHeader...), secType, 4, 1, 0x60, 0, 0, secFunction, 2, 1, 0, secCode, 4, 1, 2, 0, 0x0b), want: ErrUnsupported, text: "no memory"},
		{name: "exception handling", fixture: "tag", want: ErrUnsupported, text: "tag section"},

		{name: "empty input", bin: nil, want: ErrUnsupported, text: "magic"},
		{name: "garbage", bin: []byte("#!/bin/sh\necho not wasm\n"), want: ErrUnsupported, text: "magic"},
		{name: "WebAssembly version 2", bin: []byte{0, 'a', 's', 'm', 2, 0, 0, 0}, want: ErrUnsupported},
		{name: "unknown section id", bin: append(append([]byte{}, wasmHeader...), 14, 0), want: ErrUnsupported, text: "unknown section id 14"},
		{name: "section past the end", bin: append(append([]byte{}, wasmHeader...), secType, 10, 0), want: ErrUnsupported, text: "past the end"},
		{name: "sections out of order", bin: append(append([]byte{}, wasmHeader...), secMemory, 1, 0, secType, 1, 0), want: ErrUnsupported, text: "out of order"},
		{name: "section with bytes left over", bin: append(append([]byte{}, wasmHeader...), secFunction, 2, 0, 0), want: ErrUnsupported, text: "left over"},
		{name: "GC rec group", bin: append(append([]byte{}, wasmHeader...), secType, 3, 1, 0x4e, 0), want: ErrUnsupported, text: "GC types"},
		{name: "parameter count past the section", bin: append(append([]byte{}, wasmHeader...), secType, 7, 1, 0x60, 0xff, 0xff, 0xff, 0xff, 0x0f), want: ErrUnsupported, text: "truncated parameter types"},
		{name: "custom section name past the section", bin: append(append([]byte{}, wasmHeader...), secCustom, 2, 5, 'n'), want: ErrUnsupported, text: "custom section name"},
		{name: "four billion locals", bin: append(append([]byte{}, wasmHeader...), secType, 4, 1, 0x60, 0, 0, secFunction, 2, 1, 0, secCode, 10, 1, 8, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0x0b), want: ErrUnsupported, text: "more than 50000 locals"},
		{name: "function type past the types", bin: append(append([]byte{}, wasmHeader...), secType, 4, 1, 0x60, 0, 0, secFunction, 2, 1, 1, secMemory, 3, 1, 0, 1, secCode, 4, 1, 2, 0, 0x0b), want: ErrInvalid, text: "type index 1 out of range"},
		{name: "functions without bodies", bin: append(append([]byte{}, wasmHeader...), secType, 4, 1, 0x60, 0, 0, secFunction, 2, 1, 0), want: ErrInvalid, text: "declares 1 functions"},

		{name: "unknown opcode", bin: body([]byte{0x27, 0x0b}), want: ErrUnsupported, text: "unknown opcode 0x27"},
		{name: "unknown 0xfc opcode", bin: body([]byte{0xfc, 0x12, 0x0b}), want: ErrUnsupported, text: "0xfc 0x12"},
		{name: "unassigned SIMD opcode", bin: body([]byte{0xfd, 0x9a, 0x01, 0x0b}), want: ErrUnsupported, text: "0xfd 0x9a"},
		{name: "relaxed SIMD", bin: body([]byte{0xfd, 0x80, 0x02, 0x0b}), want: ErrUnsupported, text: "relaxed SIMD"},
		{name: "SIMD opcode in a long encoding", bin: body([]byte{0xfd, 0x80, 0x00, 0x00, 0x00, 0x0b}), want: ErrUnsupported, text: "0xfd 0x80 0"},
		{name: "local.get past the locals", bin: body([]byte{0x20, 0x00, 0x1a, 0x0b}), want: ErrInvalid, text: "local index 0 out of range"},
		{name: "local.tee past the parameters", bin: body([]byte{0x41, 0x00, 0x22, 0x00, 0x1a, 0x0b}), want: ErrInvalid, text: "local index 0 out of range"},
		{name: "memory.atomic.wait32", bin: body([]byte{0x41, 0x00, 0x41, 0x00, 0x42, 0x7f, 0xfe, 0x01, 0x02, 0x00, 0x1a, 0x0b}), want: ErrUnsupported, text: "memory.atomic.wait32"},
		{name: "memory.atomic.wait64", bin: body([]byte{0x41, 0x00, 0x42, 0x00, 0x42, 0x7f, 0xfe, 0x02, 0x03, 0x00, 0x1a, 0x0b}), want: ErrUnsupported, text: "memory.atomic.wait64"},
		{name: "unknown atomic opcode", bin: body([]byte{0xfe, 0x04, 0x0b}), want: ErrUnsupported, text: "0xfe 0x4"},
		{name: "try_table", bin: body([]byte{0x1f, 0x40, 0x00, 0x0b, 0x0b}), want: ErrUnsupported, text: "try_table"},
		{name: "legacy try", bin: body([]byte{0x06, 0x40, 0x0b, 0x0b}), want: ErrUnsupported, text: "legacy exception"},
		{name: "call_ref", bin: body([]byte{0x14, 0x00, 0x0b}), want: ErrUnsupported, text: "typed function references"},
		{name: "GC instruction", bin: body([]byte{0xfb, 0x00, 0x0b}), want: ErrUnsupported, text: "GC"},
		{name: "block of a reference type with heap type", bin: body([]byte{0x02, 0x63, 0x70, 0x0b, 0x0b}), want: ErrUnsupported, text: "block type 0x63"},
		{name: "ref.null of a concrete type", bin: body([]byte{0xd0, 0x00, 0x1a, 0x0b}), want: ErrUnsupported, text: "reference type"},
		{name: "typed select with two types", bin: body([]byte{0x1c, 0x02, 0x7f, 0x7f, 0x0b}), want: ErrUnsupported, text: "typed select"},
		{name: "multi-memory load", bin: body([]byte{0x41, 0x00, 0x28, 0x42, 0x01, 0x00, 0x1a, 0x0b}), want: ErrUnsupported, text: "alignment"},
		{name: "second memory", bin: body([]byte{0x3f, 0x01, 0x1a, 0x0b}), want: ErrUnsupported, text: "multi-memory"},
		{name: "i32.const too long", bin: body([]byte{0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a, 0x0b}), want: ErrUnsupported, text: "longer than 5 bytes"},
		{name: "i32.const overflowing", bin: body([]byte{0x41, 0x80, 0x80, 0x80, 0x80, 0x40, 0x1a, 0x0b}), want: ErrUnsupported, text: "overflows 32 bits"},
		{name: "body without its final end", bin: body([]byte{0x01}), want: ErrUnsupported, text: "before its final end"},
		{name: "bytes after the final end", bin: body([]byte{0x0b, 0x01}), want: ErrUnsupported, text: "after the body's final end"},
		{name: "truncated immediate", bin: body([]byte{0x0c}), want: ErrUnsupported, text: "truncated"},
		{name: "br_table longer than the body", bin: body([]byte{0x41, 0x00, 0x0e, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0b}), want: ErrUnsupported, text: "br_table"},
		{name: "second function's unknown opcode", bin: body([]byte{0x0b}, []byte{0x01, 0xd7, 0x0b}), want: ErrUnsupported, text: "function 1, offset 0x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := tc.bin
			if tc.fixture != "" {
				bin = wat(t, tc.fixture)
			}
			out, err := Instrument(bin)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Instrument = %d bytes, %v; want %v", len(out), err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "interrupt: ") || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q: want the package prefix and %q", err, tc.text)
			}
		})
	}
}

// TestInstrumentTruncated cuts a module at every length: a cut between
// sections leaves a module that may be instrumented (or found invalid, or
// refused for lacking its memory), and any other cut must be refused,
// never crash.
func TestInstrumentTruncated(t *testing.T) {
	bin := wat(t, "compute")
	boundary := map[int]bool{len(wasmHeader): true}
	pos := len(wasmHeader)
	for _, s := range sectionsOf(t, bin) {
		pos += len(s)
		boundary[pos] = true
	}
	for n := 0; n < len(bin); n++ {
		_, err := Instrument(bin[:n])
		switch {
		case err == nil && !boundary[n]:
			t.Errorf("cut at %d of %d: accepted", n, len(bin))
		case err != nil && !boundary[n] && !errors.Is(err, ErrUnsupported):
			t.Errorf("cut at %d of %d: %v, want %v", n, len(bin), err, ErrUnsupported)
		case err != nil && boundary[n] && !errors.Is(err, ErrInvalid) && !strings.Contains(err.Error(), "no memory"):
			t.Errorf("cut at section boundary %d: %v", n, err)
		}
	}
}

func TestInstrumentTwiceIsRefused(t *testing.T) {
	once := mustInstrument(t, wat(t, "compute"))
	if _, err := Instrument(once); !errors.Is(err, ErrReservedName) {
		t.Fatalf("second Instrument: %v, want %v", err, ErrReservedName)
	}
}

// TestInstrumentLeavesInputAlone guards the promise that bin is not
// modified, which lets the caller keep using it, e.g. as a cache key.
func TestInstrumentLeavesInputAlone(t *testing.T) {
	bin := wat(t, "compute")
	orig := bytes.Clone(bin)
	mustInstrument(t, bin)
	if !bytes.Equal(bin, orig) {
		t.Fatal("Instrument modified its input")
	}
}

// TestInstrumentDecodesEveryProposal instruments a module with every kind
// of immediate, segment and import that Instrument decodes, and checks
// that wazero accepts the result under the features it needs and that the
// check went in once per function and once per loop.
func TestInstrumentDecodesEveryProposal(t *testing.T) {
	in := wat(t, "opcodes")
	out := mustInstrument(t, in)
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(
		api.CoreFeaturesV2|experimental.CoreFeaturesThreads|experimental.CoreFeaturesTailCall))
	defer r.Close(ctx)
	for name, bin := range map[string][]byte{"input": in, "output": out} {
		if err := compile(ctx, r, bin); err != nil {
			t.Errorf("wazero rejects the %s: %v", name, err)
		}
	}
	// One imported and five defined globals: the flag is global 6, the
	// budget global 7. Every check and every charge ends in the same
	// slow path.
	const functions, loops, bulk = 5, 1, 6
	tail := newSequences(6, 7, budgetUnits).tail
	if got := bytes.Count(out, tail) - bytes.Count(in, tail); got != functions+loops+bulk {
		t.Errorf("%d checks and charges inserted, want %d", got, functions+loops+bulk)
	}
}
