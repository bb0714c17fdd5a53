package sdk

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// classBytes is valuesClass one byte at a time.
func classBytes(pairs []string) uint8 {
	var class uint8
	for i := 1; i < len(pairs); i += 2 {
		for j := 0; j < len(pairs[i]); j++ {
			class |= byteClass[pairs[i][j]] & (escapeByte | nonASCII)
		}
	}
	return class
}

func TestValuesClass(t *testing.T) {
	var values []string
	for _, special := range []string{"", "\\", "\"", "\n", "é", "\xff", "\x80", "[", "!", "\x0b", "\x5b"} {
		for n := 0; n <= 20; n++ {
			for at := 0; at <= n; at++ {
				values = append(values, strings.Repeat("a", at)+special+strings.Repeat("b", n-at))
			}
		}
	}
	for _, v := range values {
		pairs := []string{"x", v}
		if got, want := valuesClass(pairs), classBytes(pairs); got != want {
			t.Errorf("valuesClass(%q) = %b, want %b", v, got, want)
		}
		pairs = []string{"a", "plain", "b", v, "c", ""}
		if got, want := valuesClass(pairs), classBytes(pairs); got != want {
			t.Errorf("valuesClass(%q) = %b, want %b", pairs, got, want)
		}
	}
}

func FuzzValuesClass(f *testing.F) {
	f.Add("plain", "va\\lue")
	f.Fuzz(func(t *testing.T, a, b string) {
		pairs := []string{"a", a, "b", b}
		if got, want := valuesClass(pairs), classBytes(pairs); got != want {
			t.Errorf("valuesClass(%q) = %b, want %b", pairs, got, want)
		}
	})
}

// TestSortSeries holds the natural merge sort to a reference sort, on
// orders builders produce (sorted, reversed, numbers as strings, runs)
// and random ones, with and without a series twice.
func TestSortSeries(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n <= 70; n++ {
		for trial := range 30 {
			f := &family{}
			for i := range n {
				var v string
				switch trial % 5 {
				case 0:
					v = strconv.Itoa(i)
				case 1:
					v = strconv.Itoa(n - i)
				case 2:
					v = strconv.Itoa(i%7*100 + i)
				default:
					v = strconv.Itoa(r.IntN(3 * n))
				}
				lo := len(f.labels)
				f.labels = append(f.labels, "a", "x", "v", v)
				f.series = append(f.series, series{lo: int32(lo), hi: int32(len(f.labels)), value: float64(i)})
			}
			want := slices.Clone(f.series)
			slices.SortStableFunc(want, func(a, b series) int { return f.compare(&a, &b) })
			wantDup := false
			for i := 1; i < len(want); i++ {
				wantDup = wantDup || f.compare(&want[i-1], &want[i]) == 0
			}
			err := f.canonicalize()
			if (err != nil) != wantDup {
				t.Fatalf("n=%d trial %d: error %v, want a duplicate: %v", n, trial, err, wantDup)
			}
			if err != nil {
				continue
			}
			for i := range want {
				if f.compare(&want[i], &f.series[i]) != 0 {
					t.Fatalf("n=%d trial %d: series %d is %v, want %v", n, trial, i, f.seriesLabels(&f.series[i]), f.seriesLabels(&want[i]))
				}
			}
		}
	}
}
