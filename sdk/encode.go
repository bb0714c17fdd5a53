package sdk

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
)

// maxReportedErrors bounds the error of a failed run: a loop that gets one
// label wrong would otherwise log thousands of identical lines.
const maxReportedErrors = 10

// encode appends the collection to buf as text format 0.0.4 in a canonical
// order: families by name, series by their sorted labels, buckets by bound,
// quantiles by quantile. The host does not need the order, but it makes a
// plugin's output byte-for-byte reproducible, so golden-file tests work.
// The bytes are those prometheus/common/expfmt writes for the same families,
// so golden files made with it stay valid.
func (c *Collection) encode(buf []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	errs := slices.Clip(c.errs)
	for i := 1; i < len(c.families); i++ {
		if c.families[i].name < c.families[i-1].name {
			sort.Sort(byName(c.families)) // names are unique: no need for a stable sort
			break
		}
	}
	for _, f := range c.families {
		if len(f.series) == 0 {
			continue
		}
		if err := f.canonicalize(); err != nil {
			errs = append(errs, metricError(f.name, err))
		}
		if base, suffix := c.baseCollisionLocked(f.name); base != "" {
			errs = append(errs, collisionError(base, f.name, suffix))
		}
	}
	if len(errs) > 0 {
		if len(errs) > maxReportedErrors {
			errs = append(errs[:maxReportedErrors], fmt.Errorf("sdk: and %d more errors", len(errs)-maxReportedErrors))
		}
		return nil, errors.Join(errs...)
	}
	for _, f := range c.families {
		if len(f.series) > 0 {
			buf = f.appendText(buf)
		}
	}
	return buf, nil
}

// canonicalize sorts the series and reports one that appears twice, which
// Prometheus would reject. Builders usually add series in order, so one
// pass usually finds them sorted and without duplicates.
func (f *family) canonicalize() error {
	ss := f.series
	for i := 1; i < len(ss); i++ {
		c := f.compare(&ss[i-1], &ss[i])
		if c < 0 {
			continue
		}
		if c > 0 {
			if !f.sortSeries(ss, i) {
				return nil
			}
			for i = 1; i < len(ss) && f.compare(&ss[i-1], &ss[i]) != 0; i++ {
			}
			if i == len(ss) {
				return nil // cannot happen: sortSeries saw two equal series
			}
		}
		return fmt.Errorf("series %s added more than once", seriesString(f.seriesLabels(&ss[i])))
	}
	return nil
}

// A histogram or summary foo writes foo_sum and foo_count lines (a
// histogram also foo_bucket), which a parser gives to foo; so a separate
// family called foo_count cannot be told apart from them, and the host
// refuses the whole output. baseCollisionLocked reports the non-empty
// histogram or summary that name is such a suffixed name of, and the suffix;
// suffixCollisionLocked reports a non-empty family with a suffixed name of
// name's, if name is a histogram or summary.

func (c *Collection) baseCollisionLocked(name string) (base, suffix string) {
	for _, sfx := range []string{"_sum", "_count", "_bucket"} {
		b, ok := cutSuffix(name, sfx)
		if !ok {
			continue
		}
		if f := c.lookup(b); f != nil && len(f.series) > 0 && (f.typ == TypeHistogram || f.typ == TypeSummary && sfx != "_bucket") {
			return b, sfx
		}
	}
	return "", ""
}

func (c *Collection) suffixCollisionLocked(name string, typ Type) (other, suffix string) {
	for _, sfx := range []string{"_sum", "_count", "_bucket"} {
		if typ == TypeHistogram || typ == TypeSummary && sfx != "_bucket" {
			if f := c.lookup(name + sfx); f != nil && len(f.series) > 0 {
				return name + sfx, sfx
			}
		}
	}
	return "", ""
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}

// collisionError is reported for the suffixed one of two colliding
// families, the one a plugin more likely added by mistake.
func collisionError(base, other, suffix string) error {
	return metricError(other, fmt.Errorf("its samples cannot be told apart from the %s samples of %q in the text format", suffix, base))
}

// appendText writes one family as expfmt.MetricFamilyToText would: HELP
// (if any), TYPE, then each series' sample lines.
func (f *family) appendText(b []byte) []byte {
	if f.help != "" {
		b = append(b, "# HELP "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		if stringClass(f.help)&escapeByte != 0 {
			b = appendEscaped(b, f.help, false)
		} else {
			b = append(b, f.help...)
		}
		b = append(b, '\n')
	}
	b = append(b, "# TYPE "...)
	b = append(b, f.name...)
	b = append(b, ' ')
	b = append(b, f.typ.String()...)
	b = append(b, '\n')
	if f.typ != TypeHistogram && f.typ != TypeSummary && !f.escape {
		return f.appendPlainScalars(b)
	}
	for i := range f.series {
		s := &f.series[i]
		labels := f.seriesLabels(s)
		switch f.typ {
		case TypeHistogram:
			inf := false
			for _, p := range f.seriesPoints(s) {
				b = appendSample(b, f.name, "_bucket", labels, "le", p.key, p.value)
				inf = inf || math.IsInf(p.key, 1)
			}
			if !inf {
				b = appendSample(b, f.name, "_bucket", labels, "le", math.Inf(1), s.count)
			}
			b = appendSample(b, f.name, "_sum", labels, "", 0, s.value)
			b = appendSample(b, f.name, "_count", labels, "", 0, s.count)
		case TypeSummary:
			for _, p := range f.seriesPoints(s) {
				b = appendSample(b, f.name, "", labels, "quantile", p.key, p.value)
			}
			b = appendSample(b, f.name, "_sum", labels, "", 0, s.value)
			b = appendSample(b, f.name, "_count", labels, "", 0, s.count)
		default:
			b = appendSample(b, f.name, "", labels, "", 0, s.value)
		}
	}
	return b
}

// appendSample writes one line: name and suffix, the labels, the extra
// label (le or quantile) last if given, and the value.
func appendSample(b []byte, name, suffix string, labels []string, extra string, extraValue, value float64) []byte {
	b = append(b, name...)
	b = append(b, suffix...)
	if len(labels) > 0 || extra != "" {
		sep := byte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			b = append(b, sep)
			b = append(b, labels[i]...)
			b = append(b, '=', '"')
			b = appendEscaped(b, labels[i+1], true)
			b = append(b, '"')
			sep = ','
		}
		if extra != "" {
			b = append(b, sep)
			b = append(b, extra...)
			b = append(b, '=', '"')
			b = appendFloat(b, extraValue)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, value)
	return append(b, '\n')
}

// appendPlainScalars writes the sample lines of a counter, gauge or
// untyped family whose label values need no escaping: most families, and
// so written out for wasm, where every call and every branch costs. It
// makes room for all lines at once and then copies each name, label name
// and value with a few word-sized moves instead of a call to memmove.
func (f *family) appendPlainScalars(b []byte) []byte {
	// A line is the name, '{', per label name="value" and ',' or '}',
	// ' ', the value and '\n'; one more byte for the last separator,
	// which is written two bytes wide.
	need := 1
	for _, l := range f.labels {
		need += len(l) + 2
	}
	need += len(f.series) * (len(f.name) + 3 + max(maxFloatLen, decimalRoom))
	b = slices.Grow(b, need)
	out := b[:cap(b)]
	w := len(b)
	for i := range f.series {
		s := &f.series[i]
		labels := f.labels[s.lo:s.hi]
		// The pieces of a line are the name and then the labels; after
		// each comes its separator: '{' after the name, `="` after a
		// label name, `",` after a value but the last, which gets `"}`.
		piece, sep, sepLen := f.name, uint16('{'), 1
		for k := 0; ; k++ {
			switch n := len(piece); {
			case n > 16:
				copy(out[w:], piece)
			case n >= 8:
				put64(out, w, load64(piece, 0))
				put64(out, w+n-8, load64(piece, n-8))
			case n >= 4:
				put32(out, w, load32(piece, 0))
				put32(out, w+n-4, load32(piece, n-4))
			case n > 0:
				out[w] = piece[0]
				out[w+n/2] = piece[n/2]
				out[w+n-1] = piece[n-1]
			}
			w += len(piece)
			if k == len(labels) {
				break
			}
			put16(out, w, sep)
			w += sepLen
			piece = labels[k]
			sep, sepLen = '"'|','<<8, 2
			if k&1 == 0 {
				sep = '=' | '"'<<8
			}
		}
		if len(labels) > 0 {
			put16(out, w, '"'|'}'<<8)
			w += 2
		}
		out[w] = ' '
		out = appendFloat(out[:w+1], s.value)
		w = len(out)
		out = append(out, '\n')
		w++
		out = out[:cap(out)]
	}
	return out[:w]
}

// maxFloatLen is the longest value appendFloat writes, as in
// -2.2250738585072014e-308.
const maxFloatLen = 24

// appendFloat spells a value as Prometheus does: NaN, +Inf, -Inf, and the
// shortest decimal that parses back to the same float otherwise, as
// strconv.AppendFloat(b, f, 'g', -1, 64) writes it. Negative zero is
// written as 0, as expfmt does.
func appendFloat(b []byte, f float64) []byte {
	if a := math.Abs(f); a >= 1e-4 && a < 1e6 {
		if cap(b)-len(b) < decimalRoom {
			b = slices.Grow(b, decimalRoom)
		}
		if n, ok := putDecimal(b[len(b):cap(b)], f); ok {
			return b[:len(b)+n]
		}
	}
	switch {
	case f == 0:
		return append(b, '0')
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// pow10 holds the powers of ten that float64 represents exactly and
// putDecimal needs.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// digitPairs spells 0 to 99 with two digits each, for writing two digits
// per division.
const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// decimalRoom is the room putDecimal needs in dst: 15 digits, a point,
// four zeros and a sign, as in -0.000123456789012345.
const decimalRoom = 21

// putDecimal writes the values most metrics have, such as 28.75, 0.001 or
// 1234, without strconv's general shortest-digits algorithm, which costs
// thousands of instructions per value in wasm. It finds the fewest
// decimals d for which the integer n nearest f·10^d parses back as f,
// writes n with d decimals (the shortest digits, which are what strconv
// writes) to the start of dst, and returns their length. It reports
// false, for a value in [1e-4, 1e6), only if it needs more than 15
// significant digits; outside that range, where 'g' uses an exponent, it
// must not be called. dst must have room for decimalRoom bytes.
//
// Why n is strconv's digits: n and 10^d are exact floats, so n/10^d,
// rounded as IEEE division rounds, is what parsing the decimal yields;
// the equality test is the round trip itself. Below 1e15, an n that
// parses back lies within 0.12 of the exact f·10^d (half a float spacing
// of f, scaled), and the computed product is off by at most 0.0625: so
// at each d at most one n works, and it is the integer nearest the
// product. The fewest decimals give the fewest significant digits, and a
// unique candidate is the closest one, which is strconv's choice. The
// range keeps 'g' from using an exponent: the shortest decimal of a float
// in [1e-4, 1e6) lies in that range too.
func putDecimal(dst []byte, f float64) (int, bool) {
	a := math.Abs(f)
	d := 0
	var n float64
	for ; ; d++ {
		n = math.RoundToEven(a * pow10[d])
		if n >= 1e15 {
			return 0, false
		}
		if n/pow10[d] == a {
			break
		}
	}
	// The length is known before the digits: the integer part has as
	// many digits as a's (a decimal that parses back as a cannot cross
	// the power of ten next to it, which is exact), at least one. The
	// digits then go backwards straight into dst.
	intDigits := 1
	for intDigits < 6 && a >= pow10[intDigits] {
		intDigits++
	}
	i := intDigits
	if d > 0 {
		i += 1 + d
	}
	if f < 0 {
		i++
	}
	size := i
	dst = dst[:size]
	u := uint64(n)
	k := d
	for ; k >= 2; k -= 2 {
		q := u / 100
		r := 2 * (u - 100*q)
		i -= 2
		dst[i], dst[i+1] = digitPairs[r], digitPairs[r+1]
		u = q
	}
	if k == 1 {
		q := u / 10
		i--
		dst[i] = byte('0' + u - 10*q)
		u = q
	}
	if d > 0 {
		i--
		dst[i] = '.'
	}
	for k = intDigits; k >= 2; k -= 2 {
		q := u / 100
		r := 2 * (u - 100*q)
		i -= 2
		dst[i], dst[i+1] = digitPairs[r], digitPairs[r+1]
		u = q
	}
	if k == 1 {
		i--
		dst[i] = byte('0' + u)
	}
	if f < 0 {
		dst[0] = '-'
	}
	return size, true
}

// appendEscaped escapes a help text (\\ and \n) or, with quote, a label
// value (also \"). Other bytes, invalid UTF-8 included, pass unchanged.
func appendEscaped(b []byte, s string, quote bool) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '\\':
			esc = `\\`
		case '\n':
			esc = `\n`
		case '"':
			if !quote {
				continue
			}
			esc = `\"`
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, esc...)
		start = i + 1
	}
	return append(b, s[start:]...)
}
