package interrupt

import (
	"math"
)

// imm says how to read what follows an opcode. The zero value refuses it.
type imm uint8

const (
	immUnknown  imm = iota
	immNone         // no immediate
	immBlock        // block type (block, if)
	immLoop         // block type, then the check goes in
	immEnd          // end
	immIndex        // one u32: label, function, table or type index
	immLocal        // local index, checked against the function's count
	immIndex2       // two u32: call_indirect, return_call_indirect
	immGlobal       // global index, checked against the original count
	immBrTable      // vector of labels and a default
	immSelectT      // typed select: a vector of one value type
	immMemArg       // alignment and offset
	immZeroByte     // reserved memory index: memory.size, memory.grow
	immI32          // signed LEB128 constants
	immI64          //
	immF32          // little-endian IEEE 754 constants
	immF64          //
	immRefNull      // reference type
	immMisc         // 0xfc prefix: saturating truncation, bulk memory and tables
	immSIMD         // 0xfd prefix
	immAtomic       // 0xfe prefix: threads
)

var opcodes = func() (t [256]imm) {
	set := func(k imm, ops ...int) {
		for _, op := range ops {
			t[op] = k
		}
	}
	span := func(k imm, from, to int) {
		for op := from; op <= to; op++ {
			t[op] = k
		}
	}
	// unreachable, nop, else, return, drop, select, ref.is_null
	set(immNone, 0x00, 0x01, 0x05, 0x0f, 0x1a, 0x1b, 0xd1)
	span(immNone, 0x45, 0xc4) // numeric, conversions, sign extension
	set(immBlock, 0x02, 0x04)
	set(immLoop, 0x03)
	set(immEnd, 0x0b)
	// br, br_if, call, return_call, table.get/set, ref.func
	set(immIndex, 0x0c, 0x0d, 0x10, 0x12, 0x25, 0x26, 0xd2)
	set(immLocal, 0x20, 0x21, 0x22) // local.get/set/tee
	set(immIndex2, 0x11, 0x13)
	set(immGlobal, 0x23, 0x24)
	set(immBrTable, 0x0e)
	set(immSelectT, 0x1c)
	span(immMemArg, 0x28, 0x3e)
	set(immZeroByte, 0x3f, 0x40)
	set(immI32, 0x41)
	set(immI64, 0x42)
	set(immF32, 0x43)
	set(immF64, 0x44)
	set(immRefNull, 0xd0)
	set(immMisc, 0xfc)
	set(immSIMD, 0xfd)
	set(immAtomic, 0xfe)
	return t
}()

// refused names the opcodes of proposals Instrument knows but does not
// handle, so that the error says why rather than "unknown".
var refused = map[byte]string{
	0x06: "try (legacy exception handling)",
	0x07: "catch (legacy exception handling)",
	0x08: "throw (exception handling)",
	0x09: "rethrow (legacy exception handling)",
	0x0a: "throw_ref (exception handling)",
	0x18: "delegate (legacy exception handling)",
	0x19: "catch_all (legacy exception handling)",
	0x1f: "try_table (exception handling)",
	0x14: "call_ref (typed function references)",
	0x15: "return_call_ref (typed function references)",
	0xd3: "ref.eq (GC)",
	0xd4: "ref.as_non_null (typed function references)",
	0xd5: "br_on_null (typed function references)",
	0xd6: "br_on_non_null (typed function references)",
	0xfb: "GC prefix",
}

// SIMD sub-opcodes and their immediates. The specification encodes the
// sub-opcode as a u32 LEB128; wazero reads a single byte, which is the
// same for opcodes below 0x80, and for those from 0x80 up reads the LEB128's
// second byte (0x01) as a nop. Instrument accepts exactly these two forms.
type simdImm uint8

const (
	simdUnknown simdImm = iota
	simdNone
	simdMemArg
	simdMemArgLane
	simdLane
	simdBytes16 // v128.const value, i8x16.shuffle lanes
)

var simdOpcodes = func() (t [256]simdImm) {
	for op := range t {
		t[op] = simdNone
	}
	// Unassigned in the SIMD proposal, and so in wazero.
	for _, op := range []int{0x9a, 0xa2, 0xa5, 0xa6, 0xaf, 0xb0, 0xb2, 0xb3, 0xb4,
		0xbb, 0xc2, 0xc5, 0xc6, 0xcf, 0xd0, 0xd2, 0xd3, 0xd4, 0xe2, 0xee} {
		t[op] = simdUnknown
	}
	for op := 0x00; op <= 0x0b; op++ { // v128.load*, v128.store
		t[op] = simdMemArg
	}
	t[0x5c], t[0x5d] = simdMemArg, simdMemArg // v128.load32_zero, v128.load64_zero
	for op := 0x54; op <= 0x5b; op++ {        // v128.load*_lane, v128.store*_lane
		t[op] = simdMemArgLane
	}
	t[0x0c], t[0x0d] = simdBytes16, simdBytes16
	for op := 0x15; op <= 0x22; op++ { // extract_lane, replace_lane
		t[op] = simdLane
	}
	return t
}()

// siteKind says what is inserted at a site.
type siteKind uint8

const (
	siteCheck  siteKind = iota // a check, at a function or loop body's start
	siteMemory                 // a charge before a bulk memory operation
	siteTable                  // a charge before a bulk table operation
)

// site is one place in a body where code goes in, by its offset in the
// input.
type site struct {
	at   int
	kind siteKind
	// size is, for a check, the bytes of instructions directly in the
	// region it guards: the loop or function body, less its nested loops.
	size uint32
}

// openLoop is a loop whose end walk has not reached yet.
type openLoop struct {
	site   int // its check, an index in module.sites
	depth  int // the control depth inside it
	start  int // offset of its opcode
	nested int // bytes of the loops nested in it, which it does not pay for
}

// readCode walks every function body and builds the rewritten code
// section: each body gets a check after its locals and after the block
// type of each of its loops, a charge before each bulk operation, the
// local that charge needs, and a new size.
func (m *module) readCode(s *section) error {
	d := &m.d
	n, err := d.u32("function body count")
	if err != nil {
		return err
	}
	m.codeBodies = n
	flag := m.originalGlobals()
	seq := newSequences(flag, flag+1, m.units)
	out := make([]byte, 0, (s.end-s.body)+(s.end-s.body)/4+64)
	out = appendU32(out, n)
	var body []byte
	for i := uint32(0); i < n; i++ {
		d.fn = int64(m.importedFuncs) + int64(i)
		sizeAt := d.pos
		if i >= uint32(len(m.funcTypes)) {
			return d.errAt(ErrInvalid, sizeAt, "the function section declares %d functions, the code section has more bodies", len(m.funcTypes))
		}
		size, err := d.u32("function body size")
		if err != nil {
			return err
		}
		if int64(size) > int64(d.end-d.pos) {
			return d.unsupported(sizeAt, "body size %d runs past the end of the code section", size)
		}
		bodyStart, sectionEnd := d.pos, d.end
		d.end = d.pos + int(size)
		decls, declsAt, locals, err := m.readLocals()
		if err != nil {
			return err
		}
		params := m.types[m.funcTypes[i]]
		// The index the added local takes: after the parameters and the
		// declared locals, so that no existing index changes.
		tmp := uint64(params) + locals
		if tmp >= math.MaxUint32 {
			return d.unsupported(bodyStart, "%d parameters and locals leave no index for another local", tmp)
		}
		m.locals = tmp
		codeStart := d.pos
		m.sites = append(m.sites[:0], site{at: codeStart, kind: siteCheck})
		m.loops = m.loops[:0]
		if err := m.walk(); err != nil {
			return err
		}

		bulk := false
		for _, st := range m.sites {
			bulk = bulk || st.kind != siteCheck
		}
		body = body[:0]
		if bulk {
			// One more declaration, of one i32, after the others.
			body = appendU32(body, decls+1)
			body = append(body, d.bin[declsAt:codeStart]...)
			body = append(body, 1, 0x7f)
		} else {
			body = append(body, d.bin[bodyStart:codeStart]...)
		}
		prev := codeStart
		for _, st := range m.sites {
			body = append(body, d.bin[prev:st.at]...)
			switch st.kind {
			case siteCheck:
				body = seq.check(body, checkCharge(st.size))
			case siteMemory:
				body = seq.bulk(body, uint32(tmp), memoryUnitShift)
			case siteTable:
				body = seq.bulk(body, uint32(tmp), tableUnitShift)
			}
			prev = st.at
		}
		body = append(body, d.bin[prev:d.end]...)
		if uint64(len(body)) > math.MaxUint32 {
			return d.unsupported(sizeAt, "instrumented body would exceed 4 GiB")
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
		d.end = sectionEnd
	}
	d.fn = -1
	s.rewritten = out
	return nil
}

// maxLocals is the most locals a function may declare, the limit web
// engines apply: no toolchain emits more, and wazero allocates a slot per
// declared local before reading the body, so a few bytes declaring four
// billion would be handed on as gigabytes.
const maxLocals = 50000

// readLocals reads a body's local declarations and returns their count,
// the offset of the first one, and the number of locals they declare.
func (m *module) readLocals() (decls uint32, declsAt int, locals uint64, err error) {
	d := &m.d
	n, err := d.u32("local declaration count")
	if err != nil {
		return 0, 0, 0, err
	}
	declsAt = d.pos
	// Each declaration takes at least two bytes, so n+1 cannot overflow
	// once they are all read.
	for i := uint32(0); i < n; i++ {
		at := d.pos
		count, err := d.u32("local count")
		if err != nil {
			return 0, 0, 0, err
		}
		if locals += uint64(count); locals > maxLocals {
			return 0, 0, 0, d.unsupported(at, "more than %d locals", maxLocals)
		}
		if err := d.valueType("local type"); err != nil {
			return 0, 0, 0, err
		}
	}
	return n, declsAt, locals, nil
}

// walk decodes one body's instructions, from after its locals to its
// final end, which must be its last byte, and appends to module.sites a
// check after each loop's block type and a charge before each bulk
// operation, and records in each check the size of the region it guards.
func (m *module) walk() error {
	d := &m.d
	globals := m.originalGlobals()
	codeStart := d.pos
	depth := 0
	nested := 0 // bytes of the loops at the top level of the body
	for {
		at := d.pos
		if at >= d.end {
			return d.unsupported(at, "body ends before its final end")
		}
		op := d.bin[at]
		d.pos++
		var err error
		switch opcodes[op] {
		case immNone:
		case immBlock:
			err = m.blockType(at)
			depth++
		case immLoop:
			if err = m.blockType(at); err == nil {
				depth++
				m.loops = append(m.loops, openLoop{site: len(m.sites), depth: depth, start: at})
				m.sites = append(m.sites, site{at: d.pos, kind: siteCheck})
			}
		case immEnd:
			if depth == 0 {
				if d.pos != d.end {
					return d.unsupported(d.pos, "%d bytes after the body's final end", d.end-d.pos)
				}
				m.sites[0].size = uint32(d.pos - codeStart - nested)
				return nil
			}
			if k := len(m.loops) - 1; k >= 0 && m.loops[k].depth == depth {
				l := m.loops[k]
				total := d.pos - l.start
				m.sites[l.site].size = uint32(total - l.nested)
				m.loops = m.loops[:k]
				if k > 0 {
					m.loops[k-1].nested += total
				} else {
					nested += total
				}
			}
			depth--
		case immIndex:
			_, err = d.u32("index")
		case immLocal:
			var idx uint32
			if idx, err = d.u32("local index"); err == nil && uint64(idx) >= m.locals {
				// The added local takes the index one past the end: an
				// original naming it was invalid and would become valid.
				err = d.errAt(ErrInvalid, at, "local index %d out of range: the function has %d locals", idx, m.locals)
			}
		case immIndex2:
			if _, err = d.u32("type index"); err == nil {
				_, err = d.u32("table index")
			}
		case immGlobal:
			var idx uint32
			if idx, err = d.u32("global index"); err == nil {
				err = d.globalIndex(at, idx, globals)
			}
		case immBrTable:
			var n uint32
			if n, err = d.u32("br_table label count"); err == nil {
				// Each label is at least one byte: a count the body cannot
				// hold is refused before looping over it.
				if int64(n) >= int64(d.end-d.pos) {
					return d.truncated("br_table labels")
				}
				for i := uint32(0); i <= n && err == nil; i++ {
					_, err = d.u32("br_table label")
				}
			}
		case immSelectT:
			var n byte
			if n, err = d.byte("select type count"); err == nil {
				if n != 1 {
					return d.unsupported(at, "typed select with %d types", n)
				}
				err = d.valueType("select type")
			}
		case immMemArg:
			err = m.memArg()
		case immZeroByte:
			err = m.zeroByte("memory index")
		case immI32:
			_, err = d.signed(32, "i32.const")
		case immI64:
			_, err = d.signed(64, "i64.const")
		case immF32:
			err = d.skip(4, "f32.const")
		case immF64:
			err = d.skip(8, "f64.const")
		case immRefNull:
			err = d.refType("ref.null")
		case immMisc:
			err = m.misc(at)
		case immSIMD:
			err = m.simd(at)
		case immAtomic:
			err = m.atomic(at)
		default:
			if name, ok := refused[op]; ok {
				return d.unsupported(at, "opcode %#x: %s is not supported", op, name)
			}
			return d.unsupported(at, "unknown opcode %#x", op)
		}
		if err != nil {
			return err
		}
	}
}

// blockType reads a block type: empty, one value type, or a type index
// (multi-value), as a signed 33-bit LEB128.
func (m *module) blockType(at int) error {
	d := &m.d
	typeAt := d.pos
	v, err := d.signed(33, "block type")
	if err != nil {
		return err
	}
	switch v {
	case -0x40, // empty
		-0x01, -0x02, -0x03, -0x04, -0x05, // i32, i64, f32, f64, v128
		-0x10, -0x11: // funcref, externref
		return nil
	}
	if v < 0 {
		return d.unsupported(typeAt, "block type %#x of opcode %#x", byte(v)&0x7f, d.bin[at])
	}
	return nil
}

func (m *module) memArg() error {
	d := &m.d
	at := d.pos
	align, err := d.u32("memory alignment")
	if err != nil {
		return err
	}
	// Bit 6 would announce a memory index (multi-memory); wazero refuses
	// any alignment of 32 or more, and so does Instrument.
	if align >= 32 {
		return d.unsupported(at, "memory alignment exponent %d", align)
	}
	_, err = d.u32("memory offset")
	return err
}

// zeroByte reads a reserved memory index, which must be the single byte
// 0x00 (wazero refuses any other encoding; multi-memory is not supported).
func (m *module) zeroByte(what string) error {
	d := &m.d
	at := d.pos
	b, err := d.byte(what)
	if err != nil {
		return err
	}
	if b != 0 {
		return d.unsupported(at, "%s %#x: multi-memory is not supported", what, b)
	}
	return nil
}

func (m *module) misc(at int) error {
	d := &m.d
	sub, err := d.u32("0xfc sub-opcode")
	if err != nil {
		return err
	}
	switch {
	case sub <= 0x07: // saturating float-to-int
		return nil
	case sub == 0x08: // memory.init
		m.sites = append(m.sites, site{at: at, kind: siteMemory})
		if _, err := d.u32("data index"); err != nil {
			return err
		}
		return m.zeroByte("memory index")
	case sub == 0x09, sub == 0x0d: // data.drop, elem.drop
		_, err = d.u32("segment index")
		return err
	case sub == 0x0a: // memory.copy
		m.sites = append(m.sites, site{at: at, kind: siteMemory})
		if err := m.zeroByte("memory index"); err != nil {
			return err
		}
		return m.zeroByte("memory index")
	case sub == 0x0b: // memory.fill
		m.sites = append(m.sites, site{at: at, kind: siteMemory})
		return m.zeroByte("memory index")
	case sub == 0x0c, sub == 0x0e: // table.init, table.copy
		m.sites = append(m.sites, site{at: at, kind: siteTable})
		if _, err := d.u32("index"); err != nil {
			return err
		}
		_, err = d.u32("table index")
		return err
	case sub == 0x0f, sub == 0x10: // table.grow (an exit to Go), table.size
		_, err = d.u32("table index")
		return err
	case sub == 0x11: // table.fill
		m.sites = append(m.sites, site{at: at, kind: siteTable})
		_, err = d.u32("table index")
		return err
	}
	return d.unsupported(at, "unknown opcode 0xfc %#x", sub)
}

func (m *module) simd(at int) error {
	d := &m.d
	sub, err := d.byte("0xfd sub-opcode")
	if err != nil {
		return err
	}
	if sub >= 0x80 {
		b, err := d.byte("0xfd sub-opcode")
		if err != nil {
			return err
		}
		if b != 0x01 {
			return d.unsupported(at, "opcode 0xfd %#x %#x: relaxed SIMD or an encoding wazero reads differently", sub, b)
		}
	}
	switch simdOpcodes[sub] {
	case simdNone:
		return nil
	case simdMemArg:
		return m.memArg()
	case simdMemArgLane:
		if err := m.memArg(); err != nil {
			return err
		}
		return d.skip(1, "lane index")
	case simdLane:
		return d.skip(1, "lane index")
	case simdBytes16:
		return d.skip(16, "v128 immediate")
	}
	return d.unsupported(at, "unknown opcode 0xfd %#x", sub)
}

func (m *module) atomic(at int) error {
	d := &m.d
	sub, err := d.byte("0xfe sub-opcode")
	if err != nil {
		return err
	}
	switch {
	case sub == 0x03: // atomic.fence
		return m.zeroByte("atomic.fence reserved byte")
	case sub == 0x01, sub == 0x02:
		// wazero waits in Go for a notify or the timeout, which may be
		// never, and nothing there looks at the flag.
		return d.unsupported(at, "memory.atomic.wait%d blocks until notified, out of the interrupt flag's reach", 32<<(sub-1))
	case sub == 0x00, sub >= 0x10 && sub <= 0x4e: // notify, loads, stores, read-modify-write
		return m.memArg()
	}
	return d.unsupported(at, "unknown opcode 0xfe %#x", sub)
}
