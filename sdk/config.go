package sdk

import (
	"encoding"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// decodeFlat decodes the common config, a JSON object of plain values
// into a struct of plain fields, without encoding/json: in wasm, a
// json.Decoder costs a run as much as building and writing several
// series, six times what decodeFlat costs.
//
// It reports true if it decoded data into v exactly as DecodeConfig's
// json.Decoder (with DisallowUnknownFields) would, without an error. It
// reports false, having changed nothing, for anything it does not handle
// or any input the decoder would refuse, so that the caller runs the
// decoder, which then produces the result and the error. What it handles:
// v a non-nil pointer to a struct without embedded fields and without
// UnmarshalJSON or UnmarshalText methods; data one JSON object of
// ASCII keys and values without escapes; each key exactly the name of a
// field (the tag's name, or the field's) of kind bool, string, int…,
// uint… or float…, whose type has no unmarshal methods of its own and no
// ",string" option; each value true, false, null, a string or a number
// that suits the field as the decoder has it.
func decodeFlat(data []byte, v any) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	ct := configTypeOf(rv.Type())
	if ct == nil {
		return false
	}
	var sets [16]flatSet
	n, ok := parseFlat(data, ct, &sets)
	if !ok {
		return false
	}
	st := rv.Elem()
	for _, s := range sets[:n] {
		f := &ct.fields[s.field]
		fv := st.Field(f.index)
		switch f.kind {
		case reflect.Bool:
			fv.SetBool(s.u != 0)
		case reflect.String:
			fv.SetString(string(data[s.lo:s.hi]))
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			fv.SetInt(int64(s.u))
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			fv.SetUint(s.u)
		case reflect.Float32, reflect.Float64:
			fv.SetFloat(math.Float64frombits(s.u))
		}
	}
	return true
}

// flatSet is one field assignment found by parseFlat: a string's bytes
// are data[lo:hi]; other values are in u (a bool as 0 or 1, an int as
// its two's complement, a float as its bits).
type flatSet struct {
	field  int
	lo, hi int
	u      uint64
}

// configType is what decodeFlat knows of a struct type.
type configType struct {
	typ    reflect.Type // the pointer type
	fields []flatField  // nil if decodeFlat cannot handle the type
}

type flatField struct {
	name  string // the JSON key
	index int
	kind  reflect.Kind
	bits  int
	plain bool // false: a key naming the field leaves the object to encoding/json
}

// configTypes caches configType per type: a plugin decodes the same
// config type every run. It is bounded, for a plugin that decodes many.
var configTypes struct {
	mutex
	list []*configType
}

const maxConfigTypes = 16

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonNumberType      = reflect.TypeFor[json.Number]()
)

// configTypeOf returns what decodeFlat needs of pointer type t, or nil if
// it cannot decode into it.
func configTypeOf(t reflect.Type) *configType {
	configTypes.Lock()
	for _, ct := range configTypes.list {
		if ct.typ == t {
			configTypes.Unlock()
			return ct.usable()
		}
	}
	configTypes.Unlock()
	ct := &configType{typ: t, fields: flatFields(t)}
	configTypes.Lock()
	if len(configTypes.list) < maxConfigTypes {
		configTypes.list = append(configTypes.list, ct)
	}
	configTypes.Unlock()
	return ct.usable()
}

func (ct *configType) usable() *configType {
	if ct.fields == nil {
		return nil
	}
	return ct
}

// flatFields lists the fields encoding/json would decode into for pointer
// type t, or returns nil if t is beyond decodeFlat. It follows
// encoding/json's typeFields for a struct without embedded fields, and
// leaves to encoding/json what it would have to imitate further: names
// given twice, tag names of other characters than [A-Za-z0-9_.-],
// unmarshal methods.
func flatFields(t reflect.Type) []flatField {
	if t.Elem().Kind() != reflect.Struct || t.Implements(jsonUnmarshalerType) || t.Implements(textUnmarshalerType) {
		return nil
	}
	st := t.Elem()
	fields := []flatField{}
	for i := 0; i < st.NumField(); i++ {
		sf := st.Field(i)
		if sf.Anonymous {
			return nil
		}
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		for j := 0; j < len(name); j++ {
			if c := name[j]; !(c < 0x80 && byteClass[c]&labelByte != 0 || c == '-' || c == '.') {
				return nil
			}
		}
		if name == "" {
			name = sf.Name
		}
		for _, f := range fields {
			if f.name == name {
				return nil
			}
		}
		ft := sf.Type
		f := flatField{name: name, index: i, kind: ft.Kind()}
		switch f.kind {
		case reflect.Bool, reflect.String,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
			reflect.Float32, reflect.Float64:
			pt := reflect.PointerTo(ft)
			f.plain = ft != jsonNumberType && !hasOption(opts, "string") &&
				!pt.Implements(jsonUnmarshalerType) && !pt.Implements(textUnmarshalerType)
			if f.kind != reflect.Bool && f.kind != reflect.String {
				f.bits = ft.Bits()
			}
		}
		fields = append(fields, f)
	}
	return fields
}

// hasOption is encoding/json's tagOptions.Contains.
func hasOption(opts, name string) bool {
	for opts != "" {
		var opt string
		opt, opts, _ = strings.Cut(opts, ",")
		if opt == name {
			return true
		}
	}
	return false
}

// parseFlat parses data as one JSON object into assignments to ct's
// fields, in order. It reports false for anything decodeFlat leaves to
// encoding/json.
func parseFlat(data []byte, ct *configType, sets *[16]flatSet) (int, bool) {
	i := skipJSONSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return 0, false
	}
	i = skipJSONSpace(data, i+1)
	n := 0
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			// The key.
			if i == len(data) || data[i] != '"' {
				return 0, false
			}
			lo, hi, ok := scanJSONString(data, i+1)
			if !ok {
				return 0, false
			}
			f := ct.field(data[lo:hi])
			if f < 0 || !ct.fields[f].plain {
				return 0, false
			}
			i = skipJSONSpace(data, hi+1)
			if i == len(data) || data[i] != ':' {
				return 0, false
			}
			i = skipJSONSpace(data, i+1)
			// The value.
			if i == len(data) {
				return 0, false
			}
			set := flatSet{field: f}
			var keep bool
			i, keep, ok = parseFlatValue(data, i, &ct.fields[f], &set)
			if !ok {
				return 0, false
			}
			if keep {
				if n == len(sets) {
					return 0, false
				}
				sets[n] = set
				n++
			}
			i = skipJSONSpace(data, i)
			if i == len(data) {
				return 0, false
			}
			if data[i] == '}' {
				i++
				break
			}
			if data[i] != ',' {
				return 0, false
			}
			i = skipJSONSpace(data, i+1)
		}
	}
	if skipJSONSpace(data, i) != len(data) {
		return 0, false
	}
	return n, true
}

// parseFlatValue parses the value at data[i:] for field f. keep is false
// for null, which leaves a plain field as it is.
func parseFlatValue(data []byte, i int, f *flatField, set *flatSet) (next int, keep, ok bool) {
	switch c := data[i]; {
	case c == '"':
		lo, hi, ok := scanJSONString(data, i+1)
		if !ok || f.kind != reflect.String {
			return 0, false, false
		}
		set.lo, set.hi = lo, hi
		return hi + 1, true, true
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit {
				if lit == "null" {
					return i + len(lit), false, true
				}
				if f.kind != reflect.Bool {
					return 0, false, false
				}
				if lit == "true" {
					set.u = 1
				}
				return i + len(lit), true, true
			}
		}
		return 0, false, false
	case c == '-' || c >= '0' && c <= '9':
		end, integer := scanJSONNumber(data, i)
		if end < 0 {
			return 0, false, false
		}
		return end, true, setNumber(string(data[i:end]), integer, f, set)
	}
	return 0, false, false
}

// setNumber converts a JSON number for field f as encoding/json does,
// reporting false where it would refuse it.
func setNumber(num string, integer bool, f *flatField, set *flatSet) bool {
	switch f.kind {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !integer {
			return false
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || f.bits < 64 && (n < -1<<(f.bits-1) || n > 1<<(f.bits-1)-1) {
			return false
		}
		set.u = uint64(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if !integer {
			return false
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || f.bits < 64 && n > 1<<f.bits-1 {
			return false
		}
		set.u = n
	case reflect.Float32, reflect.Float64:
		x, err := strconv.ParseFloat(num, f.bits)
		if err != nil || f.bits == 32 && math.Abs(x) > math.MaxFloat32 {
			return false
		}
		set.u = math.Float64bits(x)
	default:
		return false
	}
	return true
}

// field returns the index of the field named key, or -1.
func (ct *configType) field(key []byte) int {
	for i := range ct.fields {
		if string(key) == ct.fields[i].name {
			return i
		}
	}
	return -1
}

func skipJSONSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t' || data[i] == '\r') {
		i++
	}
	return i
}

// scanJSONString finds the end of the string whose content starts at
// data[i]: data[lo:hi] is its content and data[hi] the closing quote. It
// reports false for escapes, control characters and non-ASCII bytes,
// which it leaves to encoding/json.
func scanJSONString(data []byte, i int) (lo, hi int, ok bool) {
	for j := i; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return i, j, true
		case c < 0x20 || c == '\\' || c >= 0x80:
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// scanJSONNumber finds the end of the JSON number at data[i:], and
// whether it is an integer (no fraction, no exponent); end is -1 if the
// bytes there are not one.
func scanJSONNumber(data []byte, i int) (end int, integer bool) {
	if data[i] == '-' {
		i++
	}
	digits := func(i int) int {
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		return i
	}
	switch {
	case i == len(data):
		return -1, false
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		i = digits(i)
	default:
		return -1, false
	}
	integer = true
	if i < len(data) && data[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return -1, false
		}
		i, integer = j, false
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return -1, false
		}
		i, integer = j, false
	}
	return i, integer
}
