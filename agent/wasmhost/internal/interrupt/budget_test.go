package interrupt

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero/api"
)

// TestBudget pins down the accounting by counting instead of timing: with
// the flag set beforehand, a call traps exactly when its checks and
// charges spend what is left of the budget, which a fresh instance starts
// with at budgetUnits and which carries over from call to call. The
// arithmetic is in testdata/budget.wat.
func TestBudget(t *testing.T) {
	const (
		kib = 1 << 10
		mib = 1 << 20
	)
	const trap, oob = "unreachable", "out of bounds"
	type call struct {
		flag   uint64 // set before the call
		export string
		arg    uint32
		want   string // in the error; "" for none
	}
	for _, tc := range []struct {
		name  string
		calls []call
	}{
		{"a loop spends one unit per iteration", []call{
			// Entry and 1022 iterations leave one unit.
			{1, "count", budgetUnits - 2, ""},
		}},
		{"the flag is seen within budgetUnits checks", []call{
			{1, "count", budgetUnits - 1, trap},
		}},
		{"the budget carries over between calls", []call{
			{1, "count", budgetUnits - 3, ""}, // 2 units left
			{1, "count", 1, trap},             // entry 1, loop 1
		}},
		{"a cleared flag lets the guest go on, refilled", []call{
			{0, "count", 3 * budgetUnits, ""},
			{1, "count", budgetUnits / 2, ""},
		}},
		{"memory.fill costs one unit per 64 KiB", []call{
			{1, "count", budgetUnits - 25, ""}, // 24 left
			{1, "fill", 19 * 64 * kib, ""},     // 1 + 1 + 19: 3 left
			{1, "fill", 64 * kib, trap},        // 1 + 1 + 1
		}},
		{"memory.fill of 16 MiB costs 257 units", []call{
			{1, "fill", 16 * mib, ""}, // 258 a call: 766 left
			{1, "fill", 16 * mib, ""}, // 508
			{1, "fill", 16 * mib, ""}, // 250
			{1, "fill", 16 * mib, trap},
		}},
		{"memory.copy costs one unit per 64 KiB", []call{
			{1, "count", budgetUnits - 25, ""},
			{1, "copy", 20*64*kib - 1, ""}, // 1 + 1 + 19: 3 left
			{1, "copy", 64 * kib, trap},
		}},
		{"table.fill costs one unit per 8192 elements", []call{
			{1, "count", budgetUnits - 25, ""},
			{1, "table_fill", 19 * 8192, ""}, // 1 + 1 + 19: 3 left
			{1, "table_fill", 8192, trap},
		}},
		{"table.copy costs one unit per 8192 elements", []call{
			{1, "count", budgetUnits - 25, ""},
			{1, "table_copy", 19 * 8192, ""},
			{1, "table_copy", 8192, trap},
		}},
		{"a zero-length operation still costs a unit", []call{
			{1, "count", budgetUnits - 3, ""}, // 2 left
			{1, "fill", 0, trap},              // 1 + 1 + 0
		}},
		{"a charge far past the budget is refilled, not carried", []call{
			// 1 + 65535 units drive the budget to about -64500; the
			// slow path refills it before the fill traps out of bounds.
			// A check for exactly zero would never fire again.
			{0, "fill", 0xffffffff, oob},
			{1, "count", budgetUnits - 2, ""},
			{1, "count", 1, trap},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := instantiate(t, mustInstrument(t, wat(t, "budget")), api.CoreFeaturesV2)
			flag := g.flag(t)
			for i, c := range tc.calls {
				flag.Set(c.flag)
				_, err := g.mod.ExportedFunction(c.export).Call(context.Background(), uint64(c.arg))
				if ok := err == nil && c.want == "" || err != nil && c.want != "" && strings.Contains(err.Error(), c.want); !ok {
					t.Fatalf("call %d, %s(%d) with the flag at %d: error %v, want %q", i, c.export, c.arg, c.flag, err, c.want)
				}
			}
		})
	}
}

// TestCheckCharges checks what each check charges: one unit, plus one per
// 4 KiB of instructions directly in the region it guards, outside nested
// loops.
func TestCheckCharges(t *testing.T) {
	nops := func(n int) []byte { return bytes.Repeat([]byte{0x01}, n) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	loop := func(body ...[]byte) []byte { return cat([]byte{0x03, 0x40}, cat(body...), []byte{0x0b}) }
	end := []byte{0x0b}
	for _, tc := range []struct {
		name string
		body []byte
		want []uint32 // the function's check, then each loop's, in order
	}{
		{"small", cat(loop(nops(10)), end), []uint32{1, 1}},
		{"large function body", cat(nops(9000), end), []uint32{3}},
		// The loop is 8003 bytes with its loop, block type and end.
		{"large loop", cat(loop(nops(8000)), end), []uint32{1, 2}},
		{"large loop in a small loop", cat(loop(nops(5), loop(nops(9000)), nops(5)), end), []uint32{1, 1, 3}},
		{"small loops in a large loop", cat(loop(nops(3000), loop(nops(10)), nops(3000), loop(nops(10))), end), []uint32{1, 2, 1, 1}},
		{"large block in a loop", cat(loop([]byte{0x02, 0x40}, nops(5000), end), end), []uint32{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var code []byte
			for _, s := range sectionsOf(t, mustInstrument(t, body(tc.body))) {
				if s[0] == secCode {
					code = s
				}
			}
			seq := newSequences(0, 1, budgetUnits)
			var got []uint32
			prefix := []byte{opGlobalGet, 1, opI32Const}
			for rest := code; ; {
				i := bytes.Index(rest, prefix)
				if i < 0 {
					break
				}
				d := decoder{bin: rest, pos: i + len(prefix), end: len(rest), fn: -1}
				v, err := d.signed(32, "charge")
				if err != nil {
					t.Fatal(err)
				}
				after := append([]byte{opI32Sub}, seq.tail...)
				if !bytes.HasPrefix(rest[d.pos:], after) {
					t.Fatalf("no check after the charge at %d", i)
				}
				got = append(got, uint32(v))
				rest = rest[d.pos+len(after):]
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("charges %v, want %v", got, tc.want)
			}
		})
	}
}
