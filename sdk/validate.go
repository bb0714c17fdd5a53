package sdk

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Names are checked against the classic (legacy) character set, not UTF-8:
// the ABI's output is text format 0.0.4, which cannot carry other names,
// and Pushgateways before 1.10 refuse them.

// The byte classes of names and label values, as bits of byteClass: a
// table lookup per byte is the cheapest test in wasm, where every call
// and branch counts and the builders check each series' labels.
const (
	labelStart  = 1 << iota // [a-zA-Z_]
	labelByte               // [a-zA-Z0-9_]
	metricStart             // [a-zA-Z_:]
	metricByte              // [a-zA-Z0-9_:]
	escapeByte              // \, " and newline, which a label value escapes
	nonASCII                // the bytes of multi-byte UTF-8, to be validated
)

var byteClass = func() (t [256]uint8) {
	for b := 0; b < 256; b++ {
		switch {
		case b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '_':
			t[b] = labelStart | labelByte | metricStart | metricByte
		case b >= '0' && b <= '9':
			t[b] = labelByte | metricByte
		case b == ':':
			t[b] = metricStart | metricByte
		case b == '\\' || b == '"' || b == '\n':
			t[b] = escapeByte
		case b >= utf8.RuneSelf:
			t[b] = nonASCII
		}
	}
	return t
}()

func isNameStart(b byte) bool { return byteClass[b]&labelStart != 0 }

func isNameByte(b byte) bool { return byteClass[b]&labelByte != 0 }

// ValidMetricName reports whether s is a metric name the exposition format
// carries: [a-zA-Z_:][a-zA-Z0-9_:]*. Collectors that take names from their
// config use it to reject a bad one with its config entry, before any work.
func ValidMetricName(s string) bool {
	if s == "" || byteClass[s[0]]&metricStart == 0 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if byteClass[s[i]]&metricByte == 0 {
			return false
		}
	}
	return true
}

// ValidLabelName reports whether s is a label name: [a-zA-Z_][a-zA-Z0-9_]*.
// Names starting with "__" are valid here but reserved: Add rejects them.
func ValidLabelName(s string) bool {
	if s == "" || byteClass[s[0]]&labelStart == 0 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if byteClass[s[i]]&labelByte == 0 {
			return false
		}
	}
	return true
}

func checkName(name string) error {
	if !ValidMetricName(name) {
		return fmt.Errorf("sdk: metric %q: invalid metric name; it must match [a-zA-Z_:][a-zA-Z0-9_:]*", name)
	}
	return nil
}

// metricError names the SDK and the metric, as every error about a
// metric does.
func metricError(name string, err error) error {
	return fmt.Errorf("sdk: metric %q: %w", name, err)
}

// reservedLabel is the label a family's type claims for itself, if any.
func reservedLabel(typ Type) string {
	switch typ {
	case TypeHistogram:
		return "le"
	case TypeSummary:
		return "quantile"
	}
	return ""
}

// checkLabels checks the name, value pairs of one series of a family of
// type typ. pairs must be sorted by name, so that a name given twice sits
// next to itself. It reports the first broken rule, pair by pair, in the
// order the rules are documented.
func checkLabels(typ Type, pairs []string) error {
	reserved := reservedLabel(typ)
	for i := 0; i+1 < len(pairs); i += 2 {
		name := pairs[i]
		switch {
		case !ValidLabelName(name):
			return fmt.Errorf("invalid label name %q; it must match [a-zA-Z_][a-zA-Z0-9_]*", name)
		case strings.HasPrefix(name, "__"):
			return fmt.Errorf("label name %q is reserved: names starting with __ are for Prometheus' internal use", name)
		case name == reserved:
			return fmt.Errorf("label name %q is reserved for %s buckets", name, typ.upper())
		case i > 0 && pairs[i-2] == name:
			return fmt.Errorf("label %q given twice in series %s", name, seriesString(pairs))
		case !utf8.ValidString(pairs[i+1]):
			return fmt.Errorf("label %q has a value that is not valid UTF-8", name)
		}
	}
	return nil
}

// prepareLabels sorts the name, value pairs of one series of a family of
// type typ by name and checks them, as sortPairs and checkLabels do, and
// reports whether a value holds a byte the text format escapes. Any
// broken rule is left to checkLabels to name.
func prepareLabels(typ Type, pairs []string) (escape bool, err error) {
	sorted := true
	for i := 2; i < len(pairs); i += 2 {
		if !lessString(pairs[i-2], pairs[i]) {
			sorted = false
			break
		}
	}
	if !sorted {
		sortPairs(pairs)
	}
	ok := true
	for i := 0; ok && i+1 < len(pairs); i += 2 {
		name := pairs[i]
		ok = ValidLabelName(name) && !(len(name) > 1 && name[0] == '_' && name[1] == '_') &&
			!(typ >= TypeHistogram && name == reservedLabel(typ)) && !(!sorted && i > 0 && pairs[i-2] == name)
	}
	class := valuesClass(pairs)
	if ok && class&nonASCII != 0 {
		for i := 1; ok && i < len(pairs); i += 2 {
			ok = utf8.ValidString(pairs[i])
		}
	}
	if !ok {
		return false, checkLabels(typ, pairs)
	}
	return class&escapeByte != 0, nil
}

// valuesClass returns the union of the byte classes (escapeByte and
// nonASCII) of the values of name, value pairs. It tests eight bytes at a
// time, with the bit tricks that find a zero byte in a word, since a loop
// per byte is slow in wasm; a short value is read as two overlapping
// halves.
func valuesClass(pairs []string) uint8 {
	var acc uint64 // the bytes or'ed together, for their high bits
	var esc uint64 // nonzero if a byte is one to escape
	for i := 1; i < len(pairs); i += 2 {
		s := pairs[i]
		var x uint64
		switch n := len(s); {
		case n >= 8:
			for j := 0; j < n-8; j += 8 {
				x = load64(s, j)
				acc |= x
				esc |= hasEscape(x)
			}
			x = load64(s, n-8)
		case n >= 4:
			x = uint64(load32(s, 0)) | uint64(load32(s, n-4))<<32
		case n >= 2:
			x = uint64(load16(s, 0)) | uint64(load16(s, n-2))<<16
		case n == 1:
			x = uint64(s[0])
		}
		acc |= x
		esc |= hasEscape(x)
	}
	var class uint8
	if acc&(0x80*ones) != 0 {
		class |= nonASCII
	}
	if esc != 0 {
		class |= escapeByte
	}
	return class
}

// stringClass returns the byte classes (escapeByte and nonASCII) of s.
func stringClass(s string) uint8 { return valuesClass([]string{"", s}) }

const ones = 0x0101010101010101

// hasEscape is nonzero if a byte of x is \, " or a newline. (The zero
// bytes that stand for missing ones in a short value's word are none of
// these.)
func hasEscape(x uint64) uint64 {
	return hasZero(x^('\\'*ones)) | hasZero(x^('"'*ones)) | hasZero(x^('\n'*ones))
}

// hasZero is nonzero if a byte of x is zero.
func hasZero(x uint64) uint64 { return (x - ones) &^ x & (0x80 * ones) }

// The loads read little-endian words of a string, which the compiler
// turns into single loads.

func load64(b string, i int) uint64 {
	b = b[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func load32(b string, i int) uint32 {
	b = b[i : i+4]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func load16(b string, i int) uint16 {
	b = b[i : i+2]
	return uint16(b[0]) | uint16(b[1])<<8
}

// The puts store little-endian words into b, as single stores.

func put64(b []byte, i int, v uint64) {
	b = b[i : i+8]
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	b[4], b[5], b[6], b[7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
}

func put32(b []byte, i int, v uint32) {
	b = b[i : i+4]
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func put16(b []byte, i int, v uint16) {
	b = b[i : i+2]
	b[0], b[1] = byte(v), byte(v>>8)
}

// sortPairs sorts name, value pairs by name. Series rarely have more than a
// handful of labels and builders usually pass them sorted, so an insertion
// sort, which does nothing on sorted input, is the cheap choice.
func sortPairs(pairs []string) {
	for i := 2; i < len(pairs); i += 2 {
		for j := i; j > 0 && lessString(pairs[j], pairs[j-2]); j -= 2 {
			pairs[j], pairs[j-2] = pairs[j-2], pairs[j]
			pairs[j+1], pairs[j-1] = pairs[j-1], pairs[j+1]
		}
	}
}

// lessString is a < b, deciding on the first byte without a call into the
// runtime when it can: label names rarely share one.
func lessString(a, b string) bool {
	if a != "" && b != "" && a[0] != b[0] {
		return a[0] < b[0]
	}
	return a < b
}

// seriesString renders labels the way an error message must point at one
// series: {name="value",…}, values quoted as Go strings.
func seriesString(pairs []string) string {
	b := []byte{'{'}
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, pairs[i]...)
		b = append(b, '=')
		b = strconv.AppendQuote(b, pairs[i+1])
	}
	return string(append(b, '}'))
}

// compareSeries orders series by their sorted labels: name, then value,
// pair by pair; a series that is a prefix of another comes first.
//
// Sorting the series calls it O(n log n) times, so it compares the short
// strings labels are byte by byte itself rather than call the runtime two
// or three levels deep for each, and recognizes a string shared by both
// series (a constant name, a value bound with With) by its address.
func compareSeries(a, b []string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := a[i], b[i]
		if len(x) == len(y) && unsafe.StringData(x) == unsafe.StringData(y) {
			continue
		}
		m := min(len(x), len(y))
		if m > 16 {
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
			continue
		}
		for j := 0; j < m; j++ {
			if x[j] != y[j] {
				if x[j] < y[j] {
					return -1
				}
				return 1
			}
		}
		if len(x) != len(y) {
			if len(x) < len(y) {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// The sorts avoid generic functions: each instantiation adds its own copy
// of the sorting code to every plugin. Family names and large point sets go
// through package sort's interface; series have their own merge sort
// (family.sortSeries), which moves a series cheaply with no interface calls.

type byName []*family

func (s byName) Len() int           { return len(s) }
func (s byName) Less(i, j int) bool { return s[i].name < s[j].name }
func (s byName) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }

type pointsByKey []point

func (s pointsByKey) Len() int           { return len(s) }
func (s pointsByKey) Less(i, j int) bool { return comparePoints(s[i], s[j]) < 0 }
func (s pointsByKey) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }

// sortPoints sorts buckets or quantiles, usually few: by insertion when
// there are, doing nothing when they are sorted.
func sortPoints(ps []point) {
	if len(ps) > 32 {
		if !sort.IsSorted(pointsByKey(ps)) {
			sort.Stable(pointsByKey(ps))
		}
		return
	}
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && comparePoints(ps[j-1], ps[j]) > 0; j-- {
			ps[j-1], ps[j] = ps[j], ps[j-1]
		}
	}
}

// compare orders two series of f by their labels; see compareSeries.
func (f *family) compare(a, b *series) int {
	return compareSeries(f.labels[a.lo:a.hi], f.labels[b.lo:b.hi])
}

// minRun is the length below which sortSeries extends a run by insertion:
// merging many tiny runs costs more than inserting into a short one.
const minRun = 8

// sortSeries sorts ss, a family's series whose first run, ss[:sorted],
// is known to be ascending, and reports whether two series compared
// equal. It is a natural merge sort: it finds the ascending runs the
// builders' order leaves (a loop over numbers written as strings gives
// "1", "10", "11", …, "2", …) and merges them, so that input that is
// nearly sorted costs few comparisons. Every two series that end up
// adjacent are compared on the way, as in any comparison sort, so a series
// added twice cannot go unnoticed.
func (f *family) sortSeries(ss []series, sorted int) (dup bool) {
	tmp := f.tmp
	// The runs waiting to be merged; each is more than twice as long as
	// the one after it, so that 64 hold any slice.
	var runs [64]int // run ends, the start of each being the end of the one before
	top := 0
	for lo := 0; lo < len(ss); {
		hi := max(lo+1, sorted)
		for ; hi < len(ss); hi++ {
			c := f.compare(&ss[hi-1], &ss[hi])
			if c > 0 {
				break
			}
			dup = dup || c == 0
		}
		// Extend a short run by insertion.
		for end := min(lo+minRun, len(ss)); hi < end; hi++ {
			j := hi
			for ; j > lo; j-- {
				c := f.compare(&ss[j-1], &ss[j])
				if c <= 0 {
					dup = dup || c == 0
					break
				}
				ss[j-1], ss[j] = ss[j], ss[j-1]
			}
		}
		runs[top] = hi
		top++
		lo = hi
		for top > 1 {
			start := 0
			if top > 2 {
				start = runs[top-3]
			}
			mid, end := runs[top-2], runs[top-1]
			if lo < len(ss) && mid-start > 2*(end-mid) {
				break
			}
			if len(tmp) == 0 {
				tmp = make([]series, len(ss)/2+1)
			}
			tmp, dup = f.merge(ss[start:end], mid-start, tmp, dup)
			top--
			runs[top-1] = end
		}
	}
	f.tmp = tmp
	return dup
}

// merge merges the ascending runs ss[:mid] and ss[mid:] in place, with
// tmp as scratch space (grown if it is shorter than ss[:mid]).
func (f *family) merge(ss []series, mid int, tmp []series, dup bool) ([]series, bool) {
	c := f.compare(&ss[mid-1], &ss[mid])
	if c <= 0 {
		return tmp, dup || c == 0
	}
	if len(tmp) < mid {
		tmp = make([]series, mid)
	}
	left := tmp[:copy(tmp, ss[:mid])]
	i, j, k := 0, mid, 0
	for i < len(left) && j < len(ss) {
		c := f.compare(&ss[j], &left[i])
		if c < 0 {
			ss[k] = ss[j]
			j++
		} else {
			dup = dup || c == 0
			ss[k] = left[i]
			i++
		}
		k++
	}
	copy(ss[k:], left[i:])
	return tmp, dup
}
