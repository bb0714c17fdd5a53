package interrupt

import (
	"context"
	"fmt"
	"testing"

	"github.com/tetratelabs/wazero"
)

// BenchmarkInstrument is what instrumenting costs at load, on a Go WASI
// reactor of a few megabytes: time, and size growth in percent.
func BenchmarkInstrument(b *testing.B) {
	bin := goModule(b)
	var out []byte
	b.SetBytes(int64(len(bin)))
	for b.Loop() {
		var err error
		if out, err = Instrument(bin); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(bin)), "input-bytes")
	b.ReportMetric(100*float64(len(out)-len(bin))/float64(len(bin)), "growth-%")
}

// BenchmarkStoppable is why this package exists: the same calls into a Go
// module and into a hand-written loop, stoppable two ways — wazero's
// close-on-context-done on the original, which leaves for Go at every loop
// header, and the inline budget on the instrumented module, which leaves
// once every budgetUnits checks — and, for reference, not stoppable at all.
func BenchmarkStoppable(b *testing.B) {
	goBin := goModule(b)
	loopBin := wat(b, "compute")
	for _, workload := range []struct {
		name   string
		bin    []byte
		export string
		args   []uint64
	}{
		{"go-work-20-series", goBin, "work", []uint64{20}},
		{"wat-sum-loop-10000", loopBin, "sum", []uint64{10000}},
	} {
		instrumented := mustInstrument(b, workload.bin)
		for _, mode := range []struct {
			name        string
			bin         []byte
			closeOnDone bool
		}{
			{"close-on-context-done", workload.bin, true},
			{"instrumented", instrumented, false},
			{"unprotected", workload.bin, false},
		} {
			b.Run(workload.name+"/"+mode.name, func(b *testing.B) {
				g := instantiateWith(b, mode.bin, wazero.NewRuntimeConfig().WithCloseOnContextDone(mode.closeOnDone))
				fn := g.mod.ExportedFunction(workload.export)
				ctx := context.Background()
				for b.Loop() {
					if _, err := fn.Call(ctx, workload.args...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkBudget is how budgetUnits was chosen: the same calls as in
// BenchmarkStoppable, instrumented with budgets from 1 (every check exits
// to Go, so the difference from the others is the cost of an exit) up.
// A larger budget exits less often and costs less, but lets the guest run
// longer between exits and see the flag later.
func BenchmarkBudget(b *testing.B) {
	for _, workload := range []struct {
		name   string
		bin    []byte
		export string
		args   []uint64
	}{
		{"go-work-20-series", goModule(b), "work", []uint64{20}},
		{"wat-sum-loop-10000", wat(b, "compute"), "sum", []uint64{10000}},
	} {
		for _, units := range []int32{1, 16, 64, 256, budgetUnits, 4096, 16384} {
			b.Run(fmt.Sprintf("%s/units-%d", workload.name, units), func(b *testing.B) {
				bin, err := instrument(workload.bin, units)
				if err != nil {
					b.Fatal(err)
				}
				g := instantiateWith(b, bin, wazero.NewRuntimeConfig().WithCloseOnContextDone(false))
				fn := g.mod.ExportedFunction(workload.export)
				ctx := context.Background()
				for b.Loop() {
					if _, err := fn.Call(ctx, workload.args...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
