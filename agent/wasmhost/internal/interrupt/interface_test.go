package interrupt

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// TestInterfaceMatchesWazero holds Interface to what wazero's compiler
// says the module imports and exports, for a Go module (many WASI
// imports, a reactor's exports) and hand-written ones.
func TestInterfaceMatchesWazero(t *testing.T) {
	for _, tc := range []struct {
		name string
		bin  []byte
	}{
		{"go", goModule(t)},
		{"compute.wat", wat(t, "compute")},
		{"data.wat", wat(t, "data")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, iface, err := InstrumentInterface(tc.bin)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
			defer r.Close(ctx)
			cm, err := r.CompileModule(ctx, tc.bin)
			if err != nil {
				t.Fatal(err)
			}
			imports := cm.ImportedFunctions()
			if len(imports) != len(iface.FuncImports) {
				t.Fatalf("%d function imports, wazero has %d", len(iface.FuncImports), len(imports))
			}
			for i, want := range imports {
				mod, name, _ := want.Import()
				got := iface.FuncImports[i]
				if got.Module != mod || got.Name != name || !sameTypes(got.Type, want) {
					t.Errorf("import %d: %s.%s %v, wazero has %s.%s %v -> %v", i, got.Module, got.Name, got.Type, mod, name, want.ParamTypes(), want.ResultTypes())
				}
			}
			exports := cm.ExportedFunctions()
			if got, want := slices.Sorted(maps.Keys(iface.FuncExports)), slices.Sorted(maps.Keys(exports)); !slices.Equal(got, want) {
				t.Fatalf("function exports %q, wazero has %q", got, want)
			}
			for name, want := range exports {
				if got := iface.FuncExports[name]; !sameTypes(got, want) {
					t.Errorf("export %s: %v, wazero has %v -> %v", name, got, want.ParamTypes(), want.ResultTypes())
				}
			}
		})
	}
}

func sameTypes(s Signature, def api.FunctionDefinition) bool {
	return slices.Equal(s.Params, def.ParamTypes()) && slices.Equal(s.Results, def.ResultTypes())
}
