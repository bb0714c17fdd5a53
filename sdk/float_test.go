package sdk

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// checkFloat compares appendFloat with the strconv spelling it replaces.
func checkFloat(t *testing.T, f float64) {
	t.Helper()
	want := strconv.FormatFloat(f, 'g', -1, 64)
	switch {
	case f == 0:
		want = "0"
	case math.IsInf(f, 1):
		want = "+Inf"
	}
	if got := string(appendFloat(nil, f)); got != want {
		t.Fatalf("appendFloat(%b) = %s, want %s", f, got, want)
	}
}

func TestAppendFloatMatchesStrconv(t *testing.T) {
	for _, f := range []float64{
		0.25, 1.75, 28.75, 0.1, 0.2, 0.3, 0.1 + 0.2, 1.0 / 3, 2.0 / 3, 1e-4, 1e-5, 9.999e-5, 0.00012345,
		123456, 999999, 999999.5, 999999.9999999999, 1e6, 1e6 - 1, 1234567, 1e15, 1e21, 1e100, 5e-324,
		math.MaxFloat64, math.SmallestNonzeroFloat64, math.Pi, math.E, 100, 1200, 0.5, 0.05, 0.005,
		123.456, 1.5e-3, 4503599627370496.5, 9007199254740993, math.Nextafter(1e-4, 0), math.Nextafter(1e6, 0),
		math.Nextafter(0.1, 1), math.Nextafter(0.1, 0), 0.30000000000000004, 12345.678901234, 0.123456789012345,
		0.1234567890123456, 98765.43210987654, math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1),
	} {
		checkFloat(t, f)
		checkFloat(t, -f)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		// Random bits, random decimals of a few digits, and their
		// neighbours, across the range appendDecimal handles and beyond.
		checkFloat(t, math.Float64frombits(r.Uint64()))
		digits := r.IntN(18) + 1
		n := r.Int64N(int64(math.Pow10(digits)))
		f := float64(n) / math.Pow10(r.IntN(22))
		checkFloat(t, f)
		checkFloat(t, math.Nextafter(f, math.Inf(1)))
		checkFloat(t, math.Nextafter(f, math.Inf(-1)))
		checkFloat(t, r.Float64()*math.Pow10(r.IntN(14)-6))
	}
}

func FuzzAppendFloat(f *testing.F) {
	f.Add(uint64(0x403CC00000000000)) // 28.75
	f.Add(math.Float64bits(0.1 + 0.2))
	f.Fuzz(func(t *testing.T, bits uint64) {
		checkFloat(t, math.Float64frombits(bits))
	})
}
