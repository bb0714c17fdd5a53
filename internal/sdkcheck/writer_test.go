package sdkcheck

import (
	"bytes"
	"encoding/binary"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"

	"github.com/pushagent/pushagent/sdk"
)

// FuzzWriter drives the builders with generated families and holds the
// result to two references. A model written from the SDK's documented
// rules says whether the run must succeed; if it does, the agent's parser
// must accept the output and read exactly the series that were set, and the
// bytes must be what expfmt writes for those families.
//
// The input is a list of operations (see decodeOps); strings come from a
// small pool, so that names collide and conflicts happen, or raw from the
// input.
func FuzzWriter(f *testing.F) {
	for _, file := range testdataProm(f) {
		if fams, err := hostParse(readFile(f, file)); err == nil {
			f.Add(encodeOps(fams))
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0xf0, 0xf3, 1, 0xf6, 0xf7, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f})
	f.Add(encodeOps(map[string]*dto.MetricFamily{"a": {
		Name: proto.String("a"), Help: proto.String(" lead\\ing \"help\"\n"), Type: dto.MetricType_SUMMARY.Enum(),
		Metric: []*dto.Metric{{Summary: &dto.Summary{SampleCount: proto.Uint64(3), SampleSum: proto.Float64(math.Copysign(0, -1)),
			Quantile: []*dto.Quantile{{Quantile: proto.Float64(0.5), Value: proto.Float64(math.NaN())}}}}},
	}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		ops := decodeOps(data)
		out, err := collect(func(c *sdk.Collection) error {
			for _, op := range ops {
				op.apply(c)
			}
			return nil
		})
		wantFams, modelErr := expected(ops)
		if (err == nil) != (modelErr == "") {
			t.Fatalf("run error %v; the model says %q\nops: %+v", err, modelErr, ops)
		}
		if err != nil {
			return
		}
		got, err := hostParse(out)
		if err != nil {
			t.Fatalf("the agent refuses the output: %v\n%s\nops: %+v", err, out, ops)
		}
		diffFlat(t, "families read back and families set", flatDTO(got), wantFams)
		if ref := hostWrite(t, got); !bytes.Equal(out, ref) {
			t.Fatalf("the SDK's output is not what expfmt writes:\n%s\nexpfmt:\n%s", out, ref)
		}
	})
}

// op is one builder call: c.<Type>(name, help)[.With(bound...)].Set(...).
type op struct {
	typ        sdk.Type
	name, help string
	bound      []string
	pairs      []string
	value      float64 // scalar value, or sum
	count      uint64
	points     map[float64]float64 // buckets (counts) or quantiles
}

func (o op) apply(c *sdk.Collection) {
	switch o.typ {
	case sdk.TypeCounter:
		b := c.Counter(o.name, o.help)
		if o.bound != nil {
			b = b.With(o.bound...)
		}
		b.Set(o.value, o.pairs...)
	case sdk.TypeGauge:
		b := c.Gauge(o.name, o.help)
		if o.bound != nil {
			b = b.With(o.bound...)
		}
		b.Set(o.value, o.pairs...)
	case sdk.TypeUntyped:
		b := c.Untyped(o.name, o.help)
		if o.bound != nil {
			b = b.With(o.bound...)
		}
		b.Set(o.value, o.pairs...)
	case sdk.TypeHistogram:
		buckets := map[float64]uint64{}
		for k, v := range o.points {
			buckets[k] = uint64(v)
		}
		b := c.Histogram(o.name, o.help)
		if o.bound != nil {
			b = b.With(o.bound...)
		}
		b.Set(o.count, o.value, buckets, o.pairs...)
	case sdk.TypeSummary:
		b := c.Summary(o.name, o.help)
		if o.bound != nil {
			b = b.With(o.bound...)
		}
		b.Set(o.count, o.value, o.points, o.pairs...)
	}
}

// pool holds the strings an input can name with one byte (0xf0 + index).
var pool = []string{"a", "a_sum", "a_count", "a_bucket", "b_total", "x:y", "le", "quantile",
	"l", "m", "", "9bad", "a-b", "__x", "v\\\"\n", " lead"}

// Bucket bounds and quantiles an input can name with one byte.
var keyPool = []float64{0, 0.5, 1, math.Inf(1), math.Inf(-1), math.NaN(), math.Copysign(0, -1), 1.5, -1, 0.25, 1e-9, 1e300}

type reader struct{ b []byte }

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uint64() uint64 {
	var buf [8]byte
	n := copy(buf[:], r.b)
	r.b = r.b[n:]
	return binary.LittleEndian.Uint64(buf[:])
}

func (r *reader) float() float64 { return math.Float64frombits(r.uint64()) }

func (r *reader) string() string {
	n := r.byte()
	if n >= 0xf0 {
		return pool[n-0xf0]
	}
	if int(n) > len(r.b) {
		n = byte(len(r.b))
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) key() float64 {
	k := r.byte()
	if int(k) < len(keyPool) {
		return keyPool[k]
	}
	return r.float()
}

// decodeOps reads operations until the input ends: a kind byte (type in
// the low 3 bits, 0x08 to bind the first label pair with With, 0x10 to add
// an odd label argument), name, help, a label count and pairs, then the
// values of the type.
func decodeOps(data []byte) []op {
	r := &reader{b: data}
	var ops []op
	for len(r.b) > 0 && len(ops) < 512 {
		kind := r.byte()
		o := op{typ: sdk.Type(kind % 5), name: r.string(), help: r.string()}
		n := int(r.byte() % 8)
		var labels []string
		for range n {
			labels = append(labels, r.string(), r.string())
		}
		if kind&0x10 != 0 {
			labels = append(labels, r.string())
		}
		if kind&0x08 != 0 && len(labels) >= 2 {
			o.bound, labels = labels[:2], labels[2:]
		}
		o.pairs = labels
		switch o.typ {
		case sdk.TypeHistogram, sdk.TypeSummary:
			o.count = r.uint64() % (1 << 20)
			o.value = r.float()
			o.points = map[float64]float64{}
			for range int(r.byte() % 5) {
				k := r.key()
				if o.typ == sdk.TypeHistogram {
					o.points[k] = float64(r.uint64() % (1 << 20))
				} else {
					o.points[k] = r.float()
				}
			}
		default:
			o.value = r.float()
		}
		ops = append(ops, o)
	}
	return ops
}

// encodeOps writes families as operations, raw strings throughout: the
// fuzzer's seeds from the plugins' testdata.
func encodeOps(fams map[string]*dto.MetricFamily) []byte {
	var b []byte
	str := func(s string) {
		if len(s) >= 0xf0 {
			s = s[:0xef]
		}
		b = append(append(b, byte(len(s))), s...)
	}
	f64 := func(v float64) { b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v)) }
	u64 := func(v uint64) { b = binary.LittleEndian.AppendUint64(b, v) }
	for _, name := range sortedKeys(fams) {
		mf := fams[name]
		typ := map[dto.MetricType]sdk.Type{dto.MetricType_COUNTER: sdk.TypeCounter, dto.MetricType_GAUGE: sdk.TypeGauge,
			dto.MetricType_UNTYPED: sdk.TypeUntyped, dto.MetricType_HISTOGRAM: sdk.TypeHistogram, dto.MetricType_SUMMARY: sdk.TypeSummary}[mf.GetType()]
		for _, m := range mf.Metric {
			if len(m.Label) > 7 {
				continue
			}
			b = append(b, byte(typ))
			str(name)
			str(mf.GetHelp())
			b = append(b, byte(len(m.Label)))
			for _, l := range m.Label {
				str(l.GetName())
				str(l.GetValue())
			}
			switch typ {
			case sdk.TypeCounter:
				f64(m.GetCounter().GetValue())
			case sdk.TypeGauge:
				f64(m.GetGauge().GetValue())
			case sdk.TypeUntyped:
				f64(m.GetUntyped().GetValue())
			case sdk.TypeHistogram:
				h := m.GetHistogram()
				u64(h.GetSampleCount())
				f64(h.GetSampleSum())
				b = append(b, byte(min(len(h.Bucket), 4)))
				for _, bk := range h.Bucket[:min(len(h.Bucket), 4)] {
					b = append(b, 0xff)
					f64(bk.GetUpperBound())
					u64(bk.GetCumulativeCount())
				}
			case sdk.TypeSummary:
				s := m.GetSummary()
				u64(s.GetSampleCount())
				f64(s.GetSampleSum())
				b = append(b, byte(min(len(s.Quantile), 4)))
				for _, q := range s.Quantile[:min(len(s.Quantile), 4)] {
					b = append(b, 0xff)
					f64(q.GetQuantile())
					f64(q.GetValue())
				}
			}
		}
	}
	return b
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// expected applies the SDK's documented rules to ops, independently of its
// code: it returns the first rule broken, or the families the output must
// hold, flattened.
func expected(ops []op) ([]flat, string) {
	type series struct {
		labels []string // "name=value" sorted, for the key
		pairs  []string
		op     op
	}
	type fam struct {
		typ    sdk.Type
		help   string
		series []series
	}
	fams := map[string]*fam{}
	broken := ""
	fail := func(why string) {
		if broken == "" {
			broken = why
		}
	}
	for _, o := range ops {
		help := strings.TrimLeft(o.help, " \t")
		f := fams[o.name]
		switch {
		case !metricNameRE.MatchString(o.name):
			fail("metric name")
			f = nil
		case f == nil:
			f = &fam{typ: o.typ, help: help}
			fams[o.name] = f
		case f.typ != o.typ:
			fail("type conflict")
			f = nil
		case help != "" && f.help != "" && help != f.help:
			fail("help conflict")
			f = nil
		case f.help == "":
			f.help = help
		}
		all := append(slices.Clone(o.bound), o.pairs...)
		if len(all)%2 != 0 {
			fail("odd labels")
			continue
		}
		reserved := map[sdk.Type]string{sdk.TypeHistogram: "le", sdk.TypeSummary: "quantile"}[o.typ]
		seen := map[string]bool{}
		var keys []string
		for i := 0; i < len(all); i += 2 {
			name, value := all[i], all[i+1]
			switch {
			case !labelNameRE.MatchString(name), strings.HasPrefix(name, "__"), name == reserved, seen[name], !utf8.ValidString(value):
				fail("label " + name)
			}
			seen[name] = true
			keys = append(keys, labelText(name, value))
		}
		slices.Sort(keys)
		switch o.typ {
		case sdk.TypeCounter:
			if o.value < 0 {
				fail("negative counter")
			}
		case sdk.TypeHistogram:
			bounds := make([]float64, 0, len(o.points))
			for k := range o.points {
				bounds = append(bounds, k)
			}
			slices.Sort(bounds)
			prev := 0.0
			for _, k := range bounds {
				if math.IsNaN(k) || o.points[k] < prev || o.points[k] > float64(o.count) {
					fail("buckets")
				}
				prev = o.points[k]
			}
		case sdk.TypeSummary:
			for q := range o.points {
				if !(q >= 0 && q <= 1) {
					fail("quantile")
				}
			}
		}
		if f != nil {
			f.series = append(f.series, series{labels: keys, pairs: all, op: o})
		}
	}
	// Series twice, and families the text format cannot tell apart.
	for name, f := range fams {
		seen := map[string]bool{}
		for _, s := range f.series {
			k := strings.Join(s.labels, ",")
			if seen[k] {
				fail("series twice")
			}
			seen[k] = true
		}
		if len(f.series) == 0 {
			continue
		}
		for _, sfx := range []string{"_sum", "_count", "_bucket"} {
			base, ok := strings.CutSuffix(name, sfx)
			if b := fams[base]; ok && b != nil && len(b.series) > 0 &&
				(b.typ == sdk.TypeHistogram || b.typ == sdk.TypeSummary && sfx != "_bucket") {
				fail("collision")
			}
		}
	}
	if broken != "" {
		return nil, broken
	}
	var out []flat
	for _, name := range sortedKeys(fams) {
		f := fams[name]
		if len(f.series) == 0 {
			continue
		}
		fl := flat{Name: name, Help: f.help, Type: f.typ.String()}
		zero := func(v float64) float64 { return v + 0 } // the text format has no -0
		for _, s := range f.series {
			add := func(suffix string, extra string, v float64) {
				labels := slices.Clone(s.labels)
				if extra != "" {
					labels = append(labels, extra)
				}
				fl.Samples = append(fl.Samples, sampleKey(name+suffix, labels, zero(v)))
			}
			o := s.op
			switch f.typ {
			case sdk.TypeHistogram:
				inf := false
				for k, v := range o.points {
					if k == 0 {
						k = 0
					}
					add("_bucket", labelText("le", floatText(k)), v)
					inf = inf || math.IsInf(k, 1)
				}
				if !inf {
					add("_bucket", labelText("le", "+Inf"), float64(o.count))
				}
				add("_sum", "", o.value)
				if o.count != 0 {
					add("_count", "", float64(o.count))
				}
			case sdk.TypeSummary:
				for k, v := range o.points {
					if k == 0 {
						k = 0
					}
					add("", labelText("quantile", floatText(k)), v)
				}
				add("_sum", "", o.value)
				add("_count", "", float64(o.count))
			default:
				add("", "", o.value)
			}
		}
		slices.Sort(fl.Samples)
		out = append(out, fl)
	}
	return out, ""
}

// TestWriterMatchesExpfmt writes hand-made families with the builders and
// with expfmt, byte for byte.
func TestWriterMatchesExpfmt(t *testing.T) {
	inf := math.Inf(1)
	out, err := collect(func(c *sdk.Collection) error {
		c.Counter("c_total", "Escapes: \\ and \n and \" stay.").Set(1, "v", "q\"\\\nz", "a", "ünïcödé")
		c.Counter("c_total", "").Set(0, "v", "")
		c.Gauge("g", "").Set(math.NaN())
		c.Gauge("g2", "Values.").Set(-1, "k", "1")
		c.Gauge("g2", "").Set(math.Copysign(0, -1), "k", "2")
		c.Gauge("g2", "").Set(math.Inf(-1), "k", "3")
		c.Gauge("g2", "").Set(1e21, "k", "4")
		c.Gauge("g2", "").Set(1.5e-7, "k", "5")
		c.Gauge("g2", "").Set(123456789, "k", "6")
		c.Untyped("u", "U.").Set(inf)
		c.Histogram("h", "H.").Set(5, 2.5, map[float64]uint64{inf: 5, 0.1: 1, -1: 0}, "x", "y")
		c.Histogram("h", "").Set(0, 0, nil)
		c.Summary("s", "S.").Set(2, 1, map[float64]float64{1: inf, 0: math.NaN()}, "x", "y")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fams, err := hostParse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if ref := hostWrite(t, fams); !bytes.Equal(out, ref) {
		t.Errorf("got:\n%s\nexpfmt:\n%s", out, ref)
	}
	const want = `# HELP c_total Escapes: \\ and \n and " stay.
# TYPE c_total counter
c_total{a="ünïcödé",v="q\"\\\nz"} 1
c_total{v=""} 0
# TYPE g gauge
g NaN
# HELP g2 Values.
# TYPE g2 gauge
g2{k="1"} -1
g2{k="2"} 0
g2{k="3"} -Inf
g2{k="4"} 1e+21
g2{k="5"} 1.5e-07
g2{k="6"} 1.23456789e+08
# HELP h H.
# TYPE h histogram
h_bucket{le="+Inf"} 0
h_sum 0
h_count 0
h_bucket{x="y",le="-1"} 0
h_bucket{x="y",le="0.1"} 1
h_bucket{x="y",le="+Inf"} 5
h_sum{x="y"} 2.5
h_count{x="y"} 5
# HELP s S.
# TYPE s summary
s{x="y",quantile="0"} NaN
s{x="y",quantile="1"} +Inf
s_sum{x="y"} 1
s_count{x="y"} 2
# HELP u U.
# TYPE u untyped
u +Inf
`
	if string(out) != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

// TestWriterRefusesCollisions: a histogram foo and a family foo_count would
// make the agent refuse the whole output, so the run fails instead, naming
// the family.
func TestWriterRefusesCollisions(t *testing.T) {
	_, err := collect(func(c *sdk.Collection) error {
		c.Histogram("h", "").Set(1, 1, nil)
		c.Gauge("h_count", "").Set(1)
		c.Summary("s", "").Set(1, 1, nil)
		c.Gauge("s_bucket", "").Set(1) // fine: summaries have no buckets
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), `sdk: metric "h_count": its samples cannot be told apart from the _count samples of "h"`) ||
		strings.Contains(err.Error(), "s_bucket") {
		t.Errorf("error = %v", err)
	}
	var addErr error
	if _, err := collect(func(c *sdk.Collection) error {
		c.Gauge("s_sum", "").Set(1)
		addErr = c.AddFamily(&sdk.Family{Name: "s", Type: sdk.TypeSummary, Samples: []sdk.Sample{{Name: "s_count", Value: 1}}})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if addErr == nil || !strings.Contains(addErr.Error(), `metric "s_sum": its samples cannot be told apart from the _sum samples of "s"`) {
		t.Errorf("AddFamily error = %v", addErr)
	}
	// What the agent does with such output.
	if _, err := hostParse([]byte("# TYPE h histogram\nh_count 1\n# TYPE h_count gauge\nh_count 1\n")); err == nil {
		t.Error("the agent accepts a histogram and its _count family; the check is needless")
	}
}

// TestWriterSeeds: the golden files, as builder calls, make successful runs
// that write the golden files again, so FuzzWriter starts from valid input.
func TestWriterSeeds(t *testing.T) {
	for _, file := range testdataProm(t) {
		if filepath.Base(file) != "golden.prom" {
			continue
		}
		text := readFile(t, file)
		fams, err := hostParse(text)
		if err != nil {
			t.Fatal(err)
		}
		ops := decodeOps(encodeOps(fams))
		out, err := collect(func(c *sdk.Collection) error {
			for _, op := range ops {
				op.apply(c)
			}
			return nil
		})
		if _, modelErr := expected(ops); err != nil || modelErr != "" {
			t.Errorf("%s: run error %v, model %q", file, err, modelErr)
		}
		if !bytes.Equal(out, text) {
			t.Errorf("%s: output differs:\n%s", file, out)
		}
	}
}

// The SDK's exported name checks, which plugins use to reject names from
// their config early, are the rule the agent's parser applies
// (prometheus/common's legacy validation), without linking it.
func TestNameChecks(t *testing.T) {
	for _, name := range []string{"", "a", "A_b:c", "_", ":", "a1", "1a", "a-b", "a b", "é", "__x", "le", "a:b", "a\x00", "9", "a\xff"} {
		if got, want := sdk.ValidMetricName(name), model.LegacyValidation.IsValidMetricName(name); got != want {
			t.Errorf("ValidMetricName(%q) = %v, want %v", name, got, want)
		}
		if got, want := sdk.ValidLabelName(name), model.LegacyValidation.IsValidLabelName(name); got != want {
			t.Errorf("ValidLabelName(%q) = %v, want %v", name, got, want)
		}
	}
}
