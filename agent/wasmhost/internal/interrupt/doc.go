// Package interrupt rewrites a WebAssembly module so that the host can stop
// it at any moment by setting a flag, without wazero's close-on-context-done
// check, and so that the guest never keeps Go from stopping the world.
//
// wazero's RuntimeConfig.WithCloseOnContextDone makes compiled code leave
// for Go at every loop header to ask whether the context has ended; on a
// Go-compiled plugin, whose every function is a loop, that costs several
// times the plugin's own work. Instrument instead adds two mutable i32
// globals: a flag, exported as GlobalName, and a budget, not exported,
// which starts at budgetUnits. At the start of every function body and at
// the top of every loop body it inserts a check
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
//	  i32.const budgetUnits
//	  global.set $budget
//	end
//
// A run that never returns must either loop or call functions without end,
// so it passes a check within a bounded number of instructions. Most checks
// only spend from the budget (a load, a subtraction, a store and a branch
// in compiled code); once every budgetUnits units or so the budget is spent
// and the guest takes the slow path: it leaves compiled code for Go, traps
// if the host has set the flag to a nonzero value (api.MutableGlobal.Set,
// from a watchdog goroutine), and refills the budget.
//
// # Why the guest must leave compiled code
//
// Go cannot preempt a goroutine while it runs compiled wasm, which is not
// Go code: the preemption signal lands outside Go and is ignored, and there
// is no safe point. A guest that spins in compiled code without ever
// leaving it therefore holds its thread against a garbage collection's
// stop-the-world, which waits for it forever while every other goroutine,
// the watchdog that would set the flag included, is already stopped: the
// whole process hangs. With GOMAXPROCS=1 the guest also keeps every other
// goroutine off the one P. A check of the flag alone, with no exit, cannot
// help. wazero's close-on-context-done escapes only because its check is
// such an exit.
//
// memory.grow is an exit in wazero's compiler: it lowers to a call of the
// memory-grow trampoline (frontend/lower.go, OpcodeMemoryGrow), which
// returns from compiled code to the Go loop in callEngine.callWithStack
// with ExitCodeGrowMemory; that loop calls MemoryInstance.Grow, an ordinary
// Go function whose prologue honours a pending preemption request, and then
// re-enters compiled code (call_engine.go). Grow returns at once for a
// delta of 0, with the current size, before it touches the buffer, the
// memory's limits, the allocator or the module engine (a shared memory
// only takes its lock); the lowering then reloads the memory's base and
// length, which have not changed. So memory.grow 0 is a safe point with no
// effect on the guest. No import is added for it, so the module's imports,
// and the host's check of them, stay as they were.
//
// # What a check and a charge cost
//
// The budget's unit is one check, about a nanosecond of a tight loop. A
// check charges one unit, plus one for every 4 KiB of instructions directly
// in the region it guards (its loop body or function body, less nested
// loops): instructions directly in a region run at most once per pass
// through its check, so the charges bound the code run between exits even
// for a loop body of megabytes. Bulk memory and table operations
// (memory.fill, memory.copy, memory.init, table.fill, table.copy,
// table.init) run in compiled code for as long as their length asks, so
// Instrument inserts before each a charge of one unit plus one per 64 KiB
// they move, computed from the length operand at run time; a charge that
// spends the budget takes the slow path before the operation runs. The
// length is copied with local.tee into an i32 local added after the
// function's own. The comparison is signed, so a budget that a large
// charge drives far below zero still takes the slow path, which refills it.
//
// So between two exits the guest runs about budgetUnits units (and the
// rest of the regions it is inside of): about a microsecond of a tight
// loop, a few milliseconds of bulk operations. What it cannot bound is one
// operation: a single memory.fill of the whole
// memory runs to its end, as it does in wazero without Instrument. The flag
// is read only on the slow path, so the guest stops within budgetUnits
// units of the flag's setting.
//
// # What the caller must do
//
// The flag is reachable only once InstantiateModule has returned the
// module, so a module that runs code inside instantiation could not be
// stopped: Instrument refuses modules with a start section, and the caller
// must instantiate with no start functions and call _initialize or _start
// itself, after arming the watchdog. A trap stops guest code only: host
// functions the guest calls must honour the run's context themselves. The
// trap leaves the instance in whatever state the guest was in, and the flag
// stays set: the caller discards the instance. The flag is written with a
// plain store while the guest reads it: under the compiler that is a load
// in machine code, out of the race detector's sight; under wazero's
// interpreter it is a Go data race, harmless in effect but reported by
// the race detector.
//
// # What it must never do
//
// Instrument must never hand back a module that the host could not stop,
// and never one that is accepted by wazero where the original would have
// been rejected. So it decodes every section it needs and every
// instruction, and refuses (ErrUnsupported) whatever it does not fully
// understand: an unknown or truncated section, opcode or immediate, or a
// proposal it does not handle (exception handling, typed function
// references, GC, memory64, multi-memory, relaxed SIMD). It also refuses
// a module without a memory, which the inserted memory.grow needs, and
// memory.atomic.wait32 and wait64, which wazero carries out in Go by
// waiting for a notify or a timeout that may never come, out of the
// flag's reach. A refused module is not run unprotected: the caller runs it
// under close-on-context-done, which also reports wazero's own error for an
// invalid module. A module that already exports or imports GlobalName is
// refused (ErrReservedName): it is either instrumented already or would
// collide with the flag.
//
// # Why the rewritten module needs no separate validation of the original
//
// The rewrite keeps every original byte in order and only inserts: two
// globals after the module's globals, one export after its exports, one
// local declaration after a function's own where it has bulk operations,
// and the inserted code at the positions above. The inserted code is valid
// in any context: it reads and writes globals and a local of the module's
// own, and grows memory 0, which exists; a check pushes and pops its own
// values inside an if block of empty type that it closes before any
// original instruction; a charge takes the length from the top of the
// stack with local.tee, which leaves it there and requires it to be an i32,
// as the bulk operation that follows does anyway (in unreachable code,
// where the stack is polymorphic, both accept anything). So it changes
// neither the operand stack, nor the label depth that original branches
// count, nor the indices of any function, type, table, memory, element or
// data segment. So wazero's validation of the rewritten module reaches the
// same verdict as on the original, with these exceptions that Instrument
// closes itself:
//
//   - The new globals take the two indices past the end. An original that
//     names either (global.get or global.set in code, or global.get in a
//     global initialiser, an element or data segment offset or an element
//     initialiser, or a global export) was invalid and would become valid,
//     or worse, could reach the flag or the budget. Instrument checks every
//     such index against the original count and refuses the module
//     (ErrInvalid).
//   - Likewise the new local takes the index after the function's
//     parameters and locals: every local.get, local.set and local.tee is
//     checked against the function's count (ErrInvalid), for which the
//     type of every function is read and checked to exist.
//   - The new export's name could clash: refused as above.
//   - The inserted memory.grow would be invalid in a module without a
//     memory: refused as above, before any verdict could change.
//
// (Only wazero's size limits could tell the two apart: 2^27 globals or 2^27
// operand stack slots, which two more globals or three more slots could
// cross only in a module of hundreds of megabytes.)
//
// The decoder agrees with wazero's on every instruction it accepts (its
// immediates have the same length); where wazero reads an immediate
// differently from the specification (a SIMD sub-opcode is read as one
// byte, so an opcode of 0x80 or more is followed by a 0x01 that wazero
// takes for a nop), Instrument accepts only the encodings on which both
// readings meet at the same instruction boundaries, and inserts only at
// boundaries. An instruction it would misread is refused, never rewritten.
// FuzzInstrument checks the resulting property: whenever Instrument
// succeeds, wazero accepts the output exactly when it accepts the input.
//
// # Choices
//
// Sections are handled by hand rather than through a module decoder and
// encoder: the rewrite copies every section it does not change byte for
// byte (custom sections stay where they were, including names, producers
// and debug information), appends to the global and export sections and
// rewrites only the code section. github.com/tetratelabs/wabin (wazero's
// module decoder and encoder as a library, last changed in 2023) was tried
// on Go, C and Rust modules and set aside: its round trip drops the data
// count section (a module using memory.init or data.drop then fails
// validation), moves custom sections to the end, keeps only three
// subsections of the name section and re-encodes element segments. No
// library decodes instructions, so the instruction decoder is this
// package's either way.
//
// The exit is memory.grow rather than a call of a host function because a
// host function would be a new import: it would shift every function
// index, and the host would have to provide it to every module. The budget
// is a global rather than a local because it must carry over calls: a
// loop that calls a function with a loop of its own would otherwise run
// the product of their budgets between exits; nor was a local faster
// when measured. wazero keeps a global's value within a basic block, so a
// check loads the budget once.
//
// A check costs a fraction of a nanosecond per loop iteration and per call
// (measured in BenchmarkStoppable); debug information that maps code
// offsets to source lines is kept as it was and so is off by the inserted
// bytes.
package interrupt
