package interrupt

import (
	"fmt"
)

// decodeError says where in the module a refusal comes from: the section or
// function being read and the byte offset in the input, so that a refused
// plugin can be looked at with any disassembler that prints offsets.
type decodeError struct {
	kind   error
	where  string
	offset int
	msg    string
}

func (e *decodeError) Error() string {
	return fmt.Sprintf("%v: %s, offset %#x: %s", e.kind, e.where, e.offset, e.msg)
}

func (e *decodeError) Unwrap() error { return e.kind }

// decoder reads the module with one cursor. Every read is bounded by end,
// the end of the section or function body being read, so a length field
// that lies cannot make it read into the next one.
type decoder struct {
	bin   []byte
	pos   int
	end   int
	where string
	// fn is the index of the function whose body is being read, or -1;
	// kept as a number so that naming it costs nothing until an error.
	fn int64
}

func (d *decoder) errAt(kind error, offset int, format string, args ...any) error {
	where := d.where
	if d.fn >= 0 {
		where = fmt.Sprintf("function %d", d.fn)
	}
	return &decodeError{kind: kind, where: where, offset: offset, msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) unsupported(offset int, format string, args ...any) error {
	return d.errAt(ErrUnsupported, offset, format, args...)
}

func (d *decoder) truncated(what string) error {
	return d.unsupported(d.pos, "truncated %s", what)
}

func (d *decoder) byte(what string) (byte, error) {
	if d.pos >= d.end {
		return 0, d.truncated(what)
	}
	b := d.bin[d.pos]
	d.pos++
	return b, nil
}

func (d *decoder) skip(n int, what string) error {
	if n < 0 || n > d.end-d.pos {
		return d.truncated(what)
	}
	d.pos += n
	return nil
}

// u32 reads an unsigned LEB128 of at most five bytes whose unused high bits
// are zero, as the specification requires. Being as strict as the
// specification is what keeps this reader's instruction boundaries equal to
// wazero's: a LEB128 ends at the first byte without the continuation bit,
// so two readers that both accept an encoding read the same bytes.
func (d *decoder) u32(what string) (uint32, error) {
	start := d.pos
	var v uint32
	for i := 0; i < 5; i++ {
		if d.pos >= d.end {
			return 0, d.truncated(what)
		}
		b := d.bin[d.pos]
		d.pos++
		if i == 4 && b&0xf0 != 0 {
			return 0, d.unsupported(start, "%s: unsigned LEB128 overflows 32 bits", what)
		}
		v |= uint32(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			return v, nil
		}
	}
	return 0, d.unsupported(start, "%s: LEB128 longer than 5 bytes", what)
}

// signed reads a signed LEB128 of the given width (32, 33 or 64 bits) and
// returns its value; the bits of the last byte beyond the width must be
// copies of the sign bit.
func (d *decoder) signed(bits int, what string) (int64, error) {
	start := d.pos
	maxBytes := (bits + 6) / 7
	var v int64
	shift := 0
	for i := 0; i < maxBytes; i++ {
		if d.pos >= d.end {
			return 0, d.truncated(what)
		}
		b := d.bin[d.pos]
		d.pos++
		if i == maxBytes-1 {
			if b&0x80 != 0 {
				return 0, d.unsupported(start, "%s: LEB128 longer than %d bytes", what, maxBytes)
			}
			// The meaningful bits of the last byte, and above them the
			// sign bit and its copies, which must all agree.
			used := bits - shift
			high := int8(b<<1) >> uint(used) // sign-extended bits from the sign bit up
			if high != 0 && high != -1 {
				return 0, d.unsupported(start, "%s: signed LEB128 overflows %d bits", what, bits)
			}
		}
		v |= int64(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			if shift < 64 && b&0x40 != 0 {
				v |= -1 << shift
			}
			return v, nil
		}
	}
	return 0, d.unsupported(start, "%s: LEB128 longer than %d bytes", what, maxBytes)
}

// name reads a length-prefixed byte string and returns it without copying.
func (d *decoder) name(what string) ([]byte, error) {
	n, err := d.u32(what + " length")
	if err != nil {
		return nil, err
	}
	if int64(n) > int64(d.end-d.pos) {
		return nil, d.truncated(what)
	}
	start := d.pos
	d.pos += int(n)
	return d.bin[start:d.pos], nil
}

// The value types Instrument accepts in locals, globals and typed select:
// those of WebAssembly 2.0. A reference type written with a heap type
// (0x63, 0x64, from typed function references and GC) or exnref (0x69,
// exception handling) is refused.
func isValueType(b byte) bool {
	switch b {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return true
	}
	return false
}

func isRefType(b byte) bool { return b == 0x70 || b == 0x6f }

func (d *decoder) valueType(what string) error {
	at := d.pos
	b, err := d.byte(what)
	if err != nil {
		return err
	}
	if !isValueType(b) {
		return d.unsupported(at, "%s: value type %#x", what, b)
	}
	return nil
}

func (d *decoder) refType(what string) error {
	at := d.pos
	b, err := d.byte(what)
	if err != nil {
		return err
	}
	if !isRefType(b) {
		return d.unsupported(at, "%s: reference type %#x", what, b)
	}
	return nil
}

// limits reads table or memory limits. Flags 2 and 3 are the threads
// proposal's shared memory; larger flags (memory64 and later) are refused.
func (d *decoder) limits(what string, shareable bool) error {
	at := d.pos
	flags, err := d.byte(what + " limits")
	if err != nil {
		return err
	}
	if flags > 3 || (!shareable && flags > 1) {
		return d.unsupported(at, "%s: limits flags %#x", what, flags)
	}
	if _, err := d.u32(what + " minimum"); err != nil {
		return err
	}
	if flags&1 != 0 {
		if _, err := d.u32(what + " maximum"); err != nil {
			return err
		}
	}
	return nil
}

// globalIndex checks an index read from a global.get or global.set.
func (d *decoder) globalIndex(at int, idx, count uint32) error {
	if idx >= count {
		return d.errAt(ErrInvalid, at, "global index %d out of range: the module has %d globals", idx, count)
	}
	return nil
}

// constExpr reads a constant expression up to and including its end, and
// checks that every global it reads existed in the original module. It
// accepts the instructions wazero accepts in constant expressions
// (including extended-const arithmetic); anything else is refused.
func (d *decoder) constExpr(what string, globals uint32) error {
	for {
		at := d.pos
		op, err := d.byte(what)
		if err != nil {
			return err
		}
		switch op {
		case 0x0b: // end
			return nil
		case 0x41: // i32.const
			_, err = d.signed(32, what)
		case 0x42: // i64.const
			_, err = d.signed(64, what)
		case 0x43: // f32.const
			err = d.skip(4, what)
		case 0x44: // f64.const
			err = d.skip(8, what)
		case 0x23: // global.get
			var idx uint32
			if idx, err = d.u32(what); err == nil {
				err = d.globalIndex(at, idx, globals)
			}
		case 0xd0: // ref.null
			err = d.refType(what)
		case 0xd2: // ref.func
			_, err = d.u32(what)
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // i32/i64 add, sub, mul
		case 0xfd:
			var sub byte
			if sub, err = d.byte(what); err == nil {
				if sub != 0x0c {
					return d.unsupported(at, "%s: instruction 0xfd %#x in a constant expression", what, sub)
				}
				err = d.skip(16, what)
			}
		default:
			return d.unsupported(at, "%s: instruction %#x in a constant expression", what, op)
		}
		if err != nil {
			return err
		}
	}
}
