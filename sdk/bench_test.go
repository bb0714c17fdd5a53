package sdk

import (
	"io"
	"strconv"
	"testing"
)

// benchCollect is internal/benchplugin's collector: 20 gauge series, the
// config decoded like a plugin's.
func benchCollect(c *Collection) error {
	cfg := struct {
		Series int `json:"series"`
	}{Series: 20}
	if err := c.DecodeConfig(&cfg); err != nil {
		return err
	}
	g := c.Gauge("bench_value", "A benchmark gauge.")
	for i := 0; i < cfg.Series; i++ {
		g.Set(float64(i)*1.5+0.25, "i", strconv.Itoa(i), "worker", "bench")
	}
	return nil
}

// BenchmarkCollect is one run of the SDK's collect path, natively: decode
// the config, 20 series through a builder, sort and write the text.
func BenchmarkCollect(b *testing.B) {
	config := []byte(`{"series":20}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := run(benchCollect, config, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode is the writing alone, on series already set.
func BenchmarkEncode(b *testing.B) {
	c := newCollection(nil, io.Discard)
	if err := benchCollect(c); err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = c.encode(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseText is the relaying path's parse of the same 20 series.
func BenchmarkParseText(b *testing.B) {
	c := newCollection(nil, io.Discard)
	if err := benchCollect(c); err != nil {
		b.Fatal(err)
	}
	text, err := c.encode(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseText(text); err != nil {
			b.Fatal(err)
		}
	}
}
