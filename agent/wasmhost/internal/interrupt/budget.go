package interrupt

// The budget: how much guest work may run between two exits to Go, and
// what each inserted site charges. See the package documentation for why
// the guest must leave compiled code at all.
const (
	// budgetUnits is the budget a run starts with and is given back at
	// every exit. Its unit is one check: about a nanosecond of a tight
	// loop. It was chosen with BenchmarkBudget. An exit costs about 27 ns
	// (with a budget of 1 a tight loop takes 28 ns an iteration instead
	// of 1.1), so exiting every 1024 checks adds about 2% to a loop that
	// does nothing else and about 0.4% to the Go plugin's work (some 50
	// exits in its 53,000 checks); 256 would add about 9% to the loop, 64
	// about 40%. A larger budget saves at most those 2% and lengthens the
	// stretch between exits, which with 1024 is about a microsecond of a
	// tight loop and a few milliseconds of bulk operations. The flag is
	// read only on the slow path, so it is also how long the flag can
	// stay unseen.
	budgetUnits = 1024

	// codeUnitShift: a check is charged one unit, plus one for every
	// 4 KiB of instructions that sit directly in the loop body or
	// function body it guards (outside nested loops, which have checks of
	// their own). Instructions directly in a region run at most once per
	// pass through its check, so the charges bound the code run between
	// exits even when a loop body is megabytes of straight-line code. The
	// unit matches the bulk units below (a few microseconds at worst)
	// and leaves loops of ordinary size, including the whole-function
	// dispatch loops Go emits, at one unit a check: 55 of the 3,477 checks
	// in the test's Go plugin charge more, none more than 8.
	codeUnitShift = 12

	// memoryUnitShift: a bulk memory operation (memory.fill, memory.copy,
	// memory.init) of n bytes is charged 1 + n>>16, one unit per 64 KiB,
	// measured at 0.7 to 3 microseconds depending on the caches: wazero
	// runs these in compiled code, not preemptible by Go, so a loop of
	// large fills would otherwise run budgetUnits of them between exits
	// (seconds, for 16 MiB fills).
	memoryUnitShift = 16

	// tableUnitShift: a bulk table operation (table.fill, table.copy,
	// table.init) of n elements is charged 1 + n>>13: wazero stores a
	// table element in 8 bytes, so this is also one unit per 64 KiB.
	tableUnitShift = 13
)

// Opcodes of the inserted code.
const (
	opUnreachable = 0x00
	opIf          = 0x04
	opEnd         = 0x0b
	opDrop        = 0x1a
	opLocalGet    = 0x20
	opLocalTee    = 0x22
	opGlobalGet   = 0x23
	opGlobalSet   = 0x24
	opMemoryGrow  = 0x40
	opI32Const    = 0x41
	opI32LeS      = 0x4c
	opI32Add      = 0x6a
	opI32Sub      = 0x6b
	opI32ShrU     = 0x76
	blockEmpty    = 0x40
)

// sequences builds the inserted code for one module, whose flag and budget
// globals have the given indices and whose budget holds units.
type sequences struct {
	budget uint32
	// tail follows every charge: if the budget is spent, exit to Go,
	// trap if the flag is set, and refill the budget.
	tail []byte
}

func newSequences(flag, budget uint32, units int32) *sequences {
	s := &sequences{budget: budget}
	b := appendU32([]byte{opGlobalSet}, budget)
	// The value just stored is reused, not loaded again: wazero keeps a
	// global's value within a basic block.
	b = appendU32(append(b, opGlobalGet), budget)
	b = append(b, opI32Const, 0, opI32LeS, opIf, blockEmpty)
	// memory.grow 0 leaves compiled code for Go and changes nothing; see
	// the package documentation.
	b = append(b, opI32Const, 0, opMemoryGrow, 0x00, opDrop)
	b = appendU32(append(b, opGlobalGet), flag)
	b = append(b, opIf, blockEmpty, opUnreachable, opEnd)
	b = appendS32(append(b, opI32Const), units)
	b = appendU32(append(b, opGlobalSet), budget)
	s.tail = append(b, opEnd)
	return s
}

// check is inserted at the start of every function body and loop body:
//
//	global.get $budget
//	i32.const charge
//	i32.sub
//	global.set $budget
//	global.get $budget
//	i32.const 0
//	i32.le_s
//	if
//	  i32.const 0
//	  memory.grow 0
//	  drop
//	  global.get $flag
//	  if
//	    unreachable
//	  end
//	  i32.const units
//	  global.set $budget
//	end
func (s *sequences) check(b []byte, charge uint32) []byte {
	b = appendU32(append(b, opGlobalGet), s.budget)
	b = appendS32(append(b, opI32Const), int32(charge))
	b = append(b, opI32Sub)
	return append(b, s.tail...)
}

// bulk is inserted before a bulk memory or table operation, whose length
// operand is on top of the stack; it charges 1 + length>>shift, keeping
// the length in the local tmp:
//
//	local.tee $tmp
//	global.get $budget
//	local.get $tmp
//	i32.const shift
//	i32.shr_u
//	i32.const 1
//	i32.add
//	i32.sub
//	global.set $budget
//	... (as in check)
func (s *sequences) bulk(b []byte, tmp uint32, shift byte) []byte {
	b = appendU32(append(b, opLocalTee), tmp)
	b = appendU32(append(b, opGlobalGet), s.budget)
	b = appendU32(append(b, opLocalGet), tmp)
	b = append(b, opI32Const, shift, opI32ShrU, opI32Const, 1, opI32Add, opI32Sub)
	return append(b, s.tail...)
}

// checkCharge is what a check guarding n bytes of instructions charges.
func checkCharge(n uint32) uint32 { return 1 + n>>codeUnitShift }

// appendS32 appends v as a signed LEB128.
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
