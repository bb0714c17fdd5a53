package interrupt

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// GlobalName is the export name of the interrupt flag that Instrument adds.
// The prefix keeps it apart from the names toolchains export (_start,
// memory, a plugin's own functions) and from the host module's. Setting it
// to any nonzero value makes the guest trap the next time it leaves for Go,
// within budgetUnits units of work (see the package documentation).
const GlobalName = "pushagent_interrupt"

// Every error Instrument returns wraps one of these. Whichever it is, the
// caller must not run the module as if it were instrumented: it runs the
// original under wazero's close-on-context-done check instead, which also
// reports wazero's own error for a module that is not valid.
var (
	// ErrUnsupported: the module holds something Instrument does not fully
	// decode — a truncated or unknown section, opcode or immediate, or a
	// proposal it does not handle — or something it will not instrument:
	// a start function, which would run before the host could reach the
	// flag; no memory, which the inserted exit needs; an atomic wait,
	// which could block beyond the flag's reach.
	ErrUnsupported = errors.New("interrupt: module not supported")
	// ErrReservedName: the module already exports or imports GlobalName.
	ErrReservedName = errors.New("interrupt: module already uses the reserved name " + GlobalName)
	// ErrInvalid: the module refers to a global, local or type that does
	// not exist, or is otherwise invalid in a way that the added globals,
	// local or code could hide.
	ErrInvalid = errors.New("interrupt: module is invalid")
)

var wasmHeader = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// Section ids, and their required order: custom sections (0) go anywhere;
// the data count section (12) sits between element (9) and code (10).
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

var sectionNames = [...]string{
	secCustom: "custom", secType: "type", secImport: "import", secFunction: "function",
	secTable: "table", secMemory: "memory", secGlobal: "global", secExport: "export",
	secStart: "start", secElement: "element", secCode: "code", secData: "data",
	secDataCount: "data count", secTag: "tag",
}

// sectionRank orders the known non-custom sections; 0 means unknown.
var sectionRank = [...]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secTag: 6,
	secGlobal: 7, secExport: 8, secStart: 9, secElement: 10, secDataCount: 11,
	secCode: 12, secData: 13,
}

// section is one section of the input, by its place in bin.
type section struct {
	id         byte
	start      int // first byte of the section id
	body, end  int // payload start and end
	rewritten  []byte
	countAfter int // offset after the payload's leading count (global, export)
	count      uint32
}

// module is what Instrument learns about the input on the way through.
type module struct {
	d               decoder
	sections        []section
	importedFuncs   uint32
	importedGlobals uint32
	definedGlobals  uint32
	declaredFuncs   uint32
	codeBodies      uint32
	memories        uint32 // imported and defined
	dataCount       bool   // a data count section was read
	units           int32  // the budget's initial and refill value
	global, export  int    // index in sections, or -1
	// types holds the parameter count of each type, funcTypes the type
	// index of each defined function: together they say where a
	// function's locals end, and so which index the added local takes.
	types     []uint32
	funcTypes []uint32
	// sigs holds each type's value types, and iface what the module
	// imports and exports, for Interface.
	sigs        []Signature
	importTypes []uint32 // the type index of each imported function
	iface       Interface
	// For the body being read: its parameters and locals, the places
	// where code goes in and the loops still open.
	locals uint64
	sites  []site
	loops  []openLoop
}

// Instrument returns a copy of the WebAssembly binary bin in which every
// defined function, on entry and at the top of every loop body, and
// before every bulk memory or table operation, spends from a budget, and
// once the budget is spent leaves compiled code for Go, checks a new
// mutable i32 global exported as GlobalName, executes unreachable if it
// is nonzero, and refills the budget.
//
// Two globals are appended after the module's globals: the flag (its index
// is the number of imported and defined globals), initially 0, and the
// budget, not exported. A function with a bulk operation gets one more i32
// local, after its own. No type, function or import is added, so no
// existing index changes. bin is not modified. See the package
// documentation for what is refused and why.
func Instrument(bin []byte) ([]byte, error) {
	out, _, err := InstrumentInterface(bin)
	return out, err
}

// Signature is a function type: its parameter and result types, each the
// byte that encodes it in the binary (0x7f i32, 0x7e i64, 0x7d f32, 0x7c
// f64, …), which is also the number wazero's api.ValueType gives it.
type Signature struct{ Params, Results []byte }

// FuncImport is a function the module imports.
type FuncImport struct {
	Module, Name string
	Type         Signature
}

// Interface is the functions a module imports and exports, as Instrument
// read them on its way through: what a host needs to check that it can
// serve the module. wazero answers the same questions
// (CompiledModule.ImportedFunctions, ExportedFunctions) by building a
// definition of every function of the module, which it keeps as long as
// the module: about 0.9 MiB for a Go plugin.
type Interface struct {
	// FuncImports are in the order of the import section.
	FuncImports []FuncImport
	// FuncExports maps each exported function's name to its type.
	FuncExports map[string]Signature
}

// InstrumentInterface is Instrument that also returns the module's
// Interface.
func InstrumentInterface(bin []byte) ([]byte, *Interface, error) {
	m, err := read(bin, budgetUnits)
	if err != nil {
		return nil, nil, err
	}
	out, err := m.write()
	if err != nil {
		return nil, nil, err
	}
	return out, &m.iface, nil
}

// instrument is Instrument with a budget of units, which the benchmarks
// vary to measure what an exit costs.
func instrument(bin []byte, units int32) ([]byte, error) {
	m, err := read(bin, units)
	if err != nil {
		return nil, err
	}
	return m.write()
}

func read(bin []byte, units int32) (*module, error) {
	m := &module{d: decoder{bin: bin, end: len(bin), where: "header", fn: -1}, global: -1, export: -1, units: units}
	if len(bin) < len(wasmHeader) || !bytes.Equal(bin[:len(wasmHeader)], wasmHeader) {
		return nil, m.d.unsupported(0, "not a WebAssembly 1.0 binary (magic number and version)")
	}
	if err := m.readSections(); err != nil {
		return nil, err
	}
	return m, nil
}

// sig returns type index idx's value types, empty for an index out of
// range (which the compiler refuses).
func (m *module) sig(idx uint32) Signature {
	if idx < uint32(len(m.sigs)) {
		return m.sigs[idx]
	}
	return Signature{}
}

// originalGlobals is the number of globals an original instruction may
// name, and so also the index of the added flag; the budget follows it.
func (m *module) originalGlobals() uint32 { return m.importedGlobals + m.definedGlobals }

func (m *module) readSections() error {
	d := &m.d
	d.pos = len(wasmHeader)
	lastRank := 0
	for d.pos < len(d.bin) {
		start := d.pos
		d.where, d.end = "section header", len(d.bin)
		id, _ := d.byte("section id")
		size, err := d.u32("section size")
		if err != nil {
			return err
		}
		if int(id) >= len(sectionRank) || (id != secCustom && sectionRank[id] == 0) {
			return d.unsupported(start, "unknown section id %d", id)
		}
		d.where = sectionNames[id] + " section"
		if int64(size) > int64(len(d.bin)-d.pos) {
			return d.unsupported(start, "section size %d runs past the end of the module", size)
		}
		s := section{id: id, start: start, body: d.pos, end: d.pos + int(size)}
		if id != secCustom {
			if sectionRank[id] <= lastRank {
				return d.unsupported(start, "section out of order or repeated")
			}
			lastRank = sectionRank[id]
		}
		d.end = s.end
		if err := m.readSection(&s); err != nil {
			return err
		}
		if d.pos != s.end {
			return d.unsupported(d.pos, "%d bytes left over at the end of the section", s.end-d.pos)
		}
		m.sections = append(m.sections, s)
		switch id {
		case secGlobal:
			m.global = len(m.sections) - 1
		case secExport:
			m.export = len(m.sections) - 1
		}
	}
	m.d.where = "module"
	if m.declaredFuncs != m.codeBodies {
		return d.errAt(ErrInvalid, len(d.bin), "function section declares %d functions, code section has %d bodies", m.declaredFuncs, m.codeBodies)
	}
	if m.memories == 0 {
		return d.unsupported(len(d.bin), "the module has no memory, which the inserted exit to Go (memory.grow 0) needs")
	}
	return nil
}

func (m *module) readSection(s *section) error {
	d := &m.d
	switch s.id {
	case secCustom:
		// Copied as it is; only its name is checked to lie within it, as
		// wazero sizes the name's buffer by the length field alone.
		if _, err := d.name("custom section name"); err != nil {
			return err
		}
		d.pos = s.end
		return nil
	case secDataCount:
		// Copied as it is: nothing in it depends on globals or code
		// offsets, and wazero checks it the same before and after. Its
		// count pins the data segments' number, so they are not merged.
		m.dataCount = true
		d.pos = s.end
		return nil
	case secMemory:
		// Copied as it is; read for the count, as the inserted code needs
		// a memory.
		n, err := d.u32("memory count")
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			if err := d.limits("memory", true); err != nil {
				return err
			}
		}
		m.memories += n
		return nil
	case secType:
		return m.readTypes()
	case secImport:
		return m.readImports()
	case secFunction:
		n, err := d.u32("function count")
		if err != nil {
			return err
		}
		if int64(n) > int64(d.end-d.pos) {
			return d.truncated("function type indices")
		}
		m.funcTypes = make([]uint32, 0, n)
		for i := uint32(0); i < n; i++ {
			at := d.pos
			idx, err := d.u32("function type index")
			if err != nil {
				return err
			}
			if idx >= uint32(len(m.types)) {
				return d.errAt(ErrInvalid, at, "function %d: type index %d out of range: the module has %d types", m.importedFuncs+i, idx, len(m.types))
			}
			m.funcTypes = append(m.funcTypes, idx)
		}
		m.declaredFuncs = n
		return nil
	case secTable:
		n, err := d.u32("table count")
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			// A table with an initialiser expression (0x40 prefix) is
			// typed function references; refType refuses it.
			if err := d.refType("table"); err != nil {
				return err
			}
			if err := d.limits("table", false); err != nil {
				return err
			}
		}
		return nil
	case secGlobal:
		n, err := d.u32("global count")
		if err != nil {
			return err
		}
		s.count, s.countAfter = n, d.pos
		if uint64(m.importedGlobals)+uint64(n)+2 > math.MaxUint32 {
			return d.unsupported(s.body, "%d globals leave no index for the flag and the budget", n)
		}
		m.definedGlobals = n
		for i := uint32(0); i < n; i++ {
			d.where = fmt.Sprintf("global %d", m.importedGlobals+i)
			if err := d.valueType("global type"); err != nil {
				return err
			}
			at := d.pos
			mut, err := d.byte("global mutability")
			if err != nil {
				return err
			}
			if mut > 1 {
				return d.unsupported(at, "global mutability %#x", mut)
			}
			if err := d.constExpr("global initialiser", m.originalGlobals()); err != nil {
				return err
			}
		}
		d.where = "global section"
		return nil
	case secExport:
		return m.readExports(s)
	case secStart:
		return d.unsupported(s.start, "a start function runs inside instantiation, before the host can reach the interrupt flag")
	case secElement:
		return m.readElements()
	case secCode:
		return m.readCode(s)
	case secData:
		return m.readData(s)
	case secTag:
		return d.unsupported(s.start, "exception handling (tag section) is not supported")
	}
	return d.unsupported(s.start, "unknown section id %d", s.id)
}

// readTypes checks the type section's layout, which nothing in the rewrite
// depends on, so that no count in it is larger than the bytes that hold it:
// wazero allocates by such counts before reading the elements. Types of
// the GC and typed function references proposals are refused.
func (m *module) readTypes() error {
	d := &m.d
	n, err := d.u32("type count")
	if err != nil {
		return err
	}
	if int64(n) > int64(d.end-d.pos) {
		return d.truncated("types")
	}
	m.types = make([]uint32, 0, n)
	m.sigs = make([]Signature, 0, n)
	for i := uint32(0); i < n; i++ {
		d.where = fmt.Sprintf("type %d", i)
		at := d.pos
		form, err := d.byte("type form")
		if err != nil {
			return err
		}
		if form != 0x60 {
			return d.unsupported(at, "type form %#x (GC types are not supported)", form)
		}
		var sig Signature
		for _, what := range []string{"parameter", "result"} {
			count, err := d.u32(what + " count")
			if err != nil {
				return err
			}
			if int64(count) > int64(d.end-d.pos) {
				return d.truncated(what + " types")
			}
			start := d.pos
			for j := uint32(0); j < count; j++ {
				if err := d.valueType(what + " type"); err != nil {
					return err
				}
			}
			// Each value type is one byte, so the types are the bytes
			// read; copied, so that the Interface does not hold bin.
			types := bytes.Clone(d.bin[start:d.pos])
			if what == "parameter" {
				m.types = append(m.types, count)
				sig.Params = types
			} else {
				sig.Results = types
			}
		}
		m.sigs = append(m.sigs, sig)
	}
	d.where = "type section"
	return nil
}

func (m *module) readImports() error {
	d := &m.d
	n, err := d.u32("import count")
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		d.where = fmt.Sprintf("import %d", i)
		at := d.pos
		modName, err := d.name("import module name")
		if err != nil {
			return err
		}
		name, err := d.name("import name")
		if err != nil {
			return err
		}
		if string(name) == GlobalName {
			return d.errAt(ErrReservedName, at, "the module imports %q", GlobalName)
		}
		kindAt := d.pos
		kind, err := d.byte("import kind")
		if err != nil {
			return err
		}
		switch kind {
		case 0x00: // function
			var idx uint32
			idx, err = d.u32("import type index")
			m.importedFuncs++
			m.importTypes = append(m.importTypes, idx)
			m.iface.FuncImports = append(m.iface.FuncImports, FuncImport{Module: string(modName), Name: string(name), Type: m.sig(idx)})
		case 0x01: // table
			if err = d.refType("imported table"); err == nil {
				err = d.limits("imported table", false)
			}
		case 0x02: // memory
			err = d.limits("imported memory", true)
			m.memories++
		case 0x03: // global
			if err = d.valueType("imported global"); err == nil {
				var mut byte
				mutAt := d.pos
				if mut, err = d.byte("imported global mutability"); err == nil && mut > 1 {
					err = d.unsupported(mutAt, "global mutability %#x", mut)
				}
			}
			m.importedGlobals++
		case 0x04:
			return d.unsupported(kindAt, "exception handling (tag import) is not supported")
		default:
			return d.unsupported(kindAt, "unknown import kind %#x", kind)
		}
		if err != nil {
			return err
		}
	}
	d.where = "import section"
	return nil
}

func (m *module) readExports(s *section) error {
	d := &m.d
	n, err := d.u32("export count")
	if err != nil {
		return err
	}
	s.count, s.countAfter = n, d.pos
	for i := uint32(0); i < n; i++ {
		d.where = fmt.Sprintf("export %d", i)
		at := d.pos
		name, err := d.name("export name")
		if err != nil {
			return err
		}
		if string(name) == GlobalName {
			return d.errAt(ErrReservedName, at, "the module exports %q", GlobalName)
		}
		kindAt := d.pos
		kind, err := d.byte("export kind")
		if err != nil {
			return err
		}
		idx, err := d.u32("export index")
		if err != nil {
			return err
		}
		switch kind {
		case 0x00:
			if m.iface.FuncExports == nil {
				m.iface.FuncExports = make(map[string]Signature)
			}
			var sig Signature
			switch {
			case idx < m.importedFuncs:
				sig = m.sig(m.importTypes[idx])
			case idx-m.importedFuncs < uint32(len(m.funcTypes)):
				sig = m.sig(m.funcTypes[idx-m.importedFuncs])
			}
			m.iface.FuncExports[string(name)] = sig
		case 0x01, 0x02:
		case 0x03:
			if err := d.globalIndex(kindAt, idx, m.originalGlobals()); err != nil {
				return err
			}
		case 0x04:
			return d.unsupported(kindAt, "exception handling (tag export) is not supported")
		default:
			return d.unsupported(kindAt, "unknown export kind %#x", kind)
		}
	}
	d.where = "export section"
	return nil
}

func (m *module) readElements() error {
	d := &m.d
	n, err := d.u32("element segment count")
	if err != nil {
		return err
	}
	globals := m.originalGlobals()
	for i := uint32(0); i < n; i++ {
		d.where = fmt.Sprintf("element segment %d", i)
		at := d.pos
		flags, err := d.u32("element segment flags")
		if err != nil {
			return err
		}
		if flags > 7 {
			return d.unsupported(at, "element segment flags %#x", flags)
		}
		// Bit 0: passive or declarative; bit 1: explicit table index (when
		// active) or declarative (when not); bit 2: initialisers are
		// expressions rather than function indices.
		active := flags&1 == 0
		if flags == 2 || flags == 6 {
			if _, err := d.u32("element table index"); err != nil {
				return err
			}
		}
		if active {
			if err := d.constExpr("element offset", globals); err != nil {
				return err
			}
		}
		exprs := flags&4 != 0
		if flags != 0 && flags != 4 {
			// Element kind (0x00, funcref) or reference type.
			kindAt := d.pos
			k, err := d.byte("element kind")
			if err != nil {
				return err
			}
			if exprs && !isRefType(k) || !exprs && k != 0x00 {
				return d.unsupported(kindAt, "element kind or type %#x", k)
			}
		}
		count, err := d.u32("element count")
		if err != nil {
			return err
		}
		for j := uint32(0); j < count; j++ {
			if exprs {
				err = d.constExpr("element initialiser", globals)
			} else {
				_, err = d.u32("element function index")
			}
			if err != nil {
				return err
			}
		}
	}
	d.where = "element section"
	return nil
}

// maxDataGap is the longest run of zero bytes between two active data
// segments that readData fills in to merge them. The Go linker splits its
// data at every run of more than a few zero bytes: tens of thousands of
// segments of a few dozen bytes each. wazero keeps about 100 bytes of
// bookkeeping per segment for each compiled module and 24 more for each
// instance, so filling a gap shorter than that saves memory, and
// instantiation copies fewer, larger pieces.
const maxDataGap = 64

// dataSegment is an active segment of memory 0 at a constant offset.
type dataSegment struct {
	offset int64
	init   []byte
}

// readData checks the data section and, where that is safe, merges
// neighbouring segments (see mergeData).
func (m *module) readData(s *section) error {
	d := &m.d
	n, err := d.u32("data segment count")
	if err != nil {
		return err
	}
	if int64(n) > int64(d.end-d.pos) {
		return d.truncated("data segments")
	}
	// Only a section of active segments at constant offsets is merged.
	var segs []dataSegment
	mergeable := !m.dataCount
	if mergeable {
		segs = make([]dataSegment, 0, n)
	}
	for i := uint32(0); i < n; i++ {
		d.where = fmt.Sprintf("data segment %d", i)
		at := d.pos
		flags, err := d.u32("data segment flags")
		if err != nil {
			return err
		}
		switch flags {
		case 0:
		case 1:
			mergeable = false
		case 2:
			mergeable = false
			if _, err := d.u32("data memory index"); err != nil {
				return err
			}
		default:
			return d.unsupported(at, "data segment flags %#x", flags)
		}
		offset := int64(-1)
		if flags != 1 {
			expr := d.pos
			if err := d.constExpr("data offset", m.originalGlobals()); err != nil {
				return err
			}
			offset = constI32(d.bin[expr:d.pos])
		}
		init, err := d.name("data bytes")
		if err != nil {
			return err
		}
		if mergeable && offset >= 0 {
			segs = append(segs, dataSegment{offset, init})
		} else {
			mergeable = false
		}
	}
	d.where = "data section"
	if mergeable {
		if merged := mergeData(segs); len(merged) < len(segs) {
			s.rewritten = writeData(merged)
		}
	}
	return nil
}

// constI32 returns the value of a constant expression that is exactly
// i32.const and end, as the unsigned offset it is for a data segment, or
// -1 for any other expression. expr has already been checked.
func constI32(expr []byte) int64 {
	if len(expr) < 3 || expr[0] != opI32Const || expr[len(expr)-1] != opEnd {
		return -1
	}
	d := decoder{bin: expr, pos: 1, end: len(expr) - 1}
	v, err := d.signed(32, "offset")
	if err != nil || d.pos != d.end {
		return -1
	}
	return int64(uint32(v))
}

// mergeData joins each segment to the one before it when the zero bytes
// between them are at most maxDataGap and no other segment reaches into
// them, so that writing those zeros changes nothing: linear memory starts
// zeroed, and a segment applied later writes over the zeros as it wrote
// over nothing. Segments apply in order and a later one may overwrite an
// earlier one; merging only neighbours keeps that order. A segment that
// overlaps or precedes its predecessor starts a new one. Bounds are
// unchanged: the merged segment ends where its last part did, and
// instantiation fails for the same modules.
func mergeData(segs []dataSegment) []dataSegment {
	// Every segment's span by start, with the highest end up to each, to
	// find in O(log n) whether any segment reaches into a gap.
	type span struct{ start, end int64 }
	spans := make([]span, len(segs))
	for i, sg := range segs {
		spans[i] = span{sg.offset, sg.offset + int64(len(sg.init))}
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	reach := make([]int64, len(spans))
	for i, sp := range spans {
		reach[i] = sp.end
		if i > 0 {
			reach[i] = max(reach[i], reach[i-1])
		}
	}
	// covered reports whether a segment other than the two beside the gap
	// [a, b) writes into it: one that starts before b and ends after a.
	// The parts merged so far end at or before a, the next starts at b.
	covered := func(a, b int64) bool {
		k, _ := slices.BinarySearchFunc(spans, b, func(sp span, b int64) int { return cmp.Compare(sp.start, b) })
		return k > 0 && reach[k-1] > a
	}

	var out []dataSegment
	for _, sg := range segs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			lastEnd := last.offset + int64(len(last.init))
			if gap := sg.offset - lastEnd; gap == 0 || gap > 0 && gap <= maxDataGap && !covered(lastEnd, sg.offset) {
				last.init = append(append(last.init, make([]byte, gap)...), sg.init...)
				continue
			}
		}
		// Capped at its length, so that the first append above copies:
		// init is part of the input, which must not change.
		out = append(out, dataSegment{sg.offset, sg.init[:len(sg.init):len(sg.init)]})
	}
	return out
}

// writeData encodes segments as a data section's payload, each active on
// memory 0 at an i32.const offset.
func writeData(segs []dataSegment) []byte {
	size := 5
	for _, sg := range segs {
		size += 1 + 1 + 5 + 1 + 5 + len(sg.init)
	}
	p := appendU32(make([]byte, 0, size), uint32(len(segs)))
	for _, sg := range segs {
		p = append(p, 0, opI32Const)
		p = append(appendS32(p, int32(uint32(sg.offset))), opEnd)
		p = append(appendU32(p, uint32(len(sg.init))), sg.init...)
	}
	return p
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendName(b []byte, name string) []byte {
	return append(appendU32(b, uint32(len(name))), name...)
}

// appendSection writes a section with a new payload, whose size must fit
// the format's 32 bits.
func (m *module) appendSection(out []byte, id byte, at int, payload []byte) ([]byte, error) {
	if uint64(len(payload)) > math.MaxUint32 {
		m.d.where = sectionNames[id] + " section"
		return nil, m.d.unsupported(at, "instrumented section would exceed 4 GiB")
	}
	out = append(out, id)
	out = appendU32(out, uint32(len(payload)))
	return append(out, payload...), nil
}

// write assembles the output: every section copied byte for byte except
// the global, export and code sections. A global or export section that the
// module lacks is created right after the last section that must precede
// it, so that whatever followed that section, custom sections included,
// still follows it, and the module still ends with the same section (wazero
// decodes an empty custom section differently at the end of a module).
func (m *module) write() ([]byte, error) {
	bin := m.d.bin
	flag := m.originalGlobals()
	// The flag and the budget: i32, mutable, initialised to 0 and to a
	// full budget.
	newGlobals := []byte{0x7f, 0x01, opI32Const, 0x00, opEnd, 0x7f, 0x01, opI32Const}
	newGlobals = append(appendS32(newGlobals, m.units), opEnd)
	newExport := appendU32(append(appendName(nil, GlobalName), 0x03), flag)

	// Sections to create, each after the section index it follows (-1:
	// right after the header).
	type created struct {
		after   int
		id      byte
		payload []byte
	}
	var add []created
	follows := func(id byte) int {
		after := -1
		for i, s := range m.sections {
			if s.id != secCustom && sectionRank[s.id] < sectionRank[id] {
				after = i
			}
		}
		return after
	}
	if m.global < 0 {
		add = append(add, created{follows(secGlobal), secGlobal, append([]byte{2}, newGlobals...)})
	}
	if m.export < 0 {
		add = append(add, created{follows(secExport), secExport, append([]byte{1}, newExport...)})
	}

	out := make([]byte, 0, len(bin)+len(bin)/8+64)
	out = append(out, wasmHeader...)
	emit := func(after int) {
		for _, c := range add {
			if c.after == after {
				out = append(appendU32(append(out, c.id), uint32(len(c.payload))), c.payload...)
			}
		}
	}
	emit(-1)
	for i := range m.sections {
		s := &m.sections[i]
		var err error
		switch {
		case i == m.global:
			p := appendU32(make([]byte, 0, s.end-s.body+len(newGlobals)+5), s.count+2)
			p = append(p, bin[s.countAfter:s.end]...)
			out, err = m.appendSection(out, secGlobal, s.start, append(p, newGlobals...))
		case i == m.export:
			if s.count == math.MaxUint32 {
				return nil, m.d.unsupported(s.body, "export count leaves no room for the flag")
			}
			p := appendU32(make([]byte, 0, s.end-s.body+len(newExport)+5), s.count+1)
			p = append(p, bin[s.countAfter:s.end]...)
			out, err = m.appendSection(out, secExport, s.start, append(p, newExport...))
		case s.rewritten != nil:
			out, err = m.appendSection(out, s.id, s.start, s.rewritten)
		default:
			out = append(out, bin[s.start:s.end]...)
		}
		if err != nil {
			return nil, err
		}
		emit(i)
	}
	return out, nil
}
