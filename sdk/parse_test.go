package sdk

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseText(t *testing.T) {
	text := `# A comment, then a family declared before its samples.
# HELP jobs_total Jobs, with a \\ and a\nnewline.
# TYPE jobs_total counter
jobs_total{queue="a\"b",zone="eu"} 3
  jobs_total { queue = "c" , } 4 1700000000000
# TYPE lat histogram
lat_bucket{le="0.5"} 1
lat_bucket{le="+Inf"} 2
lat_sum 0.75
lat_count 2
up 1
jobs_total{queue="d"} NaN
# TYPE q summary
q{quantile="0.9"} -Inf
q_count 7
`
	fams, err := ParseText([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []*Family{
		{Name: "jobs_total", Help: "Jobs, with a \\ and a\nnewline.", Type: TypeCounter, Samples: []Sample{
			{Name: "jobs_total", Labels: []Label{{"queue", `a"b`}, {"zone", "eu"}}, Value: 3},
			{Name: "jobs_total", Labels: []Label{{"queue", "c"}}, Value: 4, TimestampMs: 1700000000000, HasTimestamp: true},
			{Name: "jobs_total", Labels: []Label{{"queue", "d"}}, Value: math.NaN()},
		}},
		{Name: "lat", Type: TypeHistogram, Samples: []Sample{
			{Name: "lat_bucket", Labels: []Label{{"le", "0.5"}}, Value: 1},
			{Name: "lat_bucket", Labels: []Label{{"le", "+Inf"}}, Value: 2},
			{Name: "lat_sum", Value: 0.75},
			{Name: "lat_count", Value: 2},
		}},
		{Name: "up", Type: TypeUntyped, Samples: []Sample{{Name: "up", Value: 1}}},
		{Name: "q", Type: TypeSummary, Samples: []Sample{
			{Name: "q", Labels: []Label{{"quantile", "0.9"}}, Value: math.Inf(-1)},
			{Name: "q_count", Value: 7},
		}},
	}
	// NaN never equals itself; compare it apart.
	if v := fams[0].Samples[2].Value; !math.IsNaN(v) {
		t.Errorf("NaN read as %v", v)
	}
	fams[0].Samples[2].Value, want[0].Samples[2].Value = 0, 0
	if !reflect.DeepEqual(fams, want) {
		t.Errorf("got:\n%s\nwant:\n%s", dump(fams), dump(want))
	}
}

func dump(fams []*Family) string {
	var b strings.Builder
	for _, f := range fams {
		b.WriteString(f.Name + " " + f.Type.String() + " " + f.Help + "\n")
		for _, s := range f.Samples {
			b.WriteString("  " + s.Name + seriesString(labelPairs(s.Labels)) + " " + string(appendFloat(nil, s.Value)) + "\n")
		}
	}
	return b.String()
}

func labelPairs(labels []Label) []string {
	var pairs []string
	for _, l := range labels {
		pairs = append(pairs, l.Name, l.Value)
	}
	return pairs
}

func TestParseTextErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"x 1", "sdk: text format: line 1: unexpected end of input: the last line does not end with a newline"},
		{"ok 1\nx twelve\n", `sdk: text format: line 2: expected float as value, got "twelve"`},
		{"x 1 2 3\n", `line 1: spurious string after timestamp: " 3"`},
		{"x 1 1.5\n", `line 1: expected integer as timestamp, got "1.5"`},
		{"x{a=\"1\",a=\"2\"} 1\n", `line 1: duplicate label names for metric "x"`},
		{"x{a=\"\\t\"} 1\n", `line 1: label value of "a": invalid escape sequence '\t'`},
		{"x{a=\"1} 1\n", `line 1: label value of "a" contains an unescaped new-line or no closing quote`},
		{"x{a=\"\xff\"} 1\n", `line 1: invalid label value "\xff"`},
		{"x{1=\"\"} 1\n", `line 1: invalid label name for metric "x"`},
		{"x{__name__=\"y\"} 1\n", `line 1: label name "__name__" is reserved`},
		{"1x 1\n", "line 1: invalid metric name"},
		{"{x} 1\n", "line 1: a metric name inside the braces is not supported"},
		{"x 1\n# TYPE x gauge\n", `line 2: second TYPE line for metric name "x", or TYPE reported after samples`},
		{"# HELP x a\n# HELP x b\n", `line 2: second HELP line for metric name "x"`},
		{"# TYPE x info\n", `line 1: unknown metric type "info"`},
		{"# TYPE x gauge_histogram\n", `line 1: metric type "gauge_histogram" of "x" is not supported by text format 0.0.4`},
		{"# TYPE h histogram\nh_bucket 1\n", `line 2: histogram bucket "h_bucket" has no le label`},
		{"# TYPE h histogram\nh 1\n", `line 2: sample "h" of histogram "h" must be named h_bucket, h_sum or h_count`},
		{"# TYPE h histogram\nh_count -1\n", `line 2: negative count -1 in histogram "h"`},
		{"# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", `line 2: expected float as value for "le" label, got "x"`},
		{"# TYPE s summary\ns 1\n", `line 2: sample "s" of summary "s" has no quantile label`},
		{"# TYPE s summary\ns{quantile=\"NaN\"} 1\n", `line 2: summary sample "s" has quantile="NaN"`},
	} {
		_, err := ParseText([]byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseText(%q) error = %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestAddFamilyRules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fam     Family
		wantErr string
	}{
		{"invalid name", Family{Name: "a-b"}, `sdk: metric "a-b": invalid metric name`},
		{"unsupported type", Family{Name: "a", Type: 9}, `sdk: metric "a": unsupported type Type(9)`},
		{"sample of another name", Family{Name: "a", Samples: []Sample{{Name: "b", Value: 1}}}, `sdk: metric "a": sample "b" is not named after its untyped family`},
		{"reserved label", Family{Name: "a", Samples: []Sample{{Labels: []Label{{"__x", "1"}}}}}, `label name "__x" is reserved`},
		{"timestamp", Family{Name: "a", Samples: []Sample{{HasTimestamp: true}}}, `series {} has a timestamp`},
		{"negative counter", Family{Name: "a", Type: TypeCounter, Samples: []Sample{{Value: -1}}}, `counter value -1 is negative`},
		{"series twice", Family{Name: "a", Samples: []Sample{{Labels: []Label{{"b", "1"}}}, {Labels: []Label{{"b", "1"}}}}}, `series {b="1"} added more than once`},
		{"histogram sample", Family{Name: "h", Type: TypeHistogram, Samples: []Sample{{Name: "h"}}}, `sample "h" is not one of histogram h: want h_bucket, h_sum or h_count`},
		{"bucket without le", Family{Name: "h", Type: TypeHistogram, Samples: []Sample{{Name: "h_bucket"}}}, `sample "h_bucket" has no le label`},
		{"le on sum", Family{Name: "h", Type: TypeHistogram, Samples: []Sample{{Name: "h_sum", Labels: []Label{{"le", "1"}}}}}, `label name "le" is reserved for HISTOGRAM buckets`},
		{"non-cumulative", Family{Name: "h", Type: TypeHistogram, Samples: []Sample{
			{Name: "h_bucket", Labels: []Label{{"le", "1"}}, Value: 3}, {Name: "h_bucket", Labels: []Label{{"le", "2"}}, Value: 2}, {Name: "h_count", Value: 3}}},
			`histogram bucket le=2 has count 2; bucket counts must be cumulative and at most the total count 3`},
		{"bucket over the count", Family{Name: "h", Type: TypeHistogram, Samples: []Sample{{Name: "h_bucket", Labels: []Label{{"le", "1"}}, Value: 3}}},
			`histogram bucket le=1 has count 3; bucket counts must be cumulative and at most the total count 0`},
		{"bound twice", Family{Name: "h", Type: TypeHistogram, Samples: []Sample{
			{Name: "h_bucket", Labels: []Label{{"le", "1"}}}, {Name: "h_bucket", Labels: []Label{{"le", "1.0"}}}}}, `series {} has le=1 twice`},
		{"sum twice", Family{Name: "h", Type: TypeHistogram, Samples: []Sample{{Name: "h_sum"}, {Name: "h_sum"}}}, `series {} has h_sum twice`},
		{"NaN count", Family{Name: "h", Type: TypeHistogram, Samples: []Sample{{Name: "h_count", Value: math.NaN()}}}, `histogram count NaN of series {} is not a count`},
		{"quantile out of range", Family{Name: "s", Type: TypeSummary, Samples: []Sample{{Labels: []Label{{"quantile", "2"}}}}}, `summary quantile 2 is outside [0, 1]`},
		{"fractional summary count", Family{Name: "s", Type: TypeSummary, Samples: []Sample{{Name: "s_count", Value: 1.5}}}, `summary count 1.5 of series {} is not a whole number of observations`},
		{"summary bucket", Family{Name: "s", Type: TypeSummary, Samples: []Sample{{Name: "s_bucket"}}}, `sample "s_bucket" is not one of summary s: want s, s_sum or s_count`},
		{"valid histogram without sum and +Inf", Family{Name: "h", Type: TypeHistogram, Samples: []Sample{
			{Name: "h_bucket", Labels: []Label{{"le", "1"}, {"a", "b"}}, Value: 1}, {Name: "h_count", Labels: []Label{{"a", "b"}}, Value: 2}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var addErr error
			_, _, err := collectWith(t, "", func(c *Collection) error {
				addErr = c.AddFamily(&tc.fam)
				return nil
			})
			if err != nil {
				t.Fatalf("an AddFamily error failed the run: %v", err)
			}
			switch {
			case tc.wantErr == "" && addErr != nil:
				t.Errorf("error %v", addErr)
			case tc.wantErr != "" && (addErr == nil || !strings.Contains(addErr.Error(), tc.wantErr)):
				t.Errorf("error %v, want %q", addErr, tc.wantErr)
			}
		})
	}
}

// AddFamily merges into a family of the same name by the builders' rules,
// and leaves a family that breaks them out whole.
func TestAddFamilyMerges(t *testing.T) {
	var errs []error
	out, _, err := collectWith(t, "", func(c *Collection) error {
		c.Gauge("g", "").Set(1, "k", "builder")
		for _, f := range []*Family{
			{Name: "g", Help: "Filled in.", Type: TypeGauge, Samples: []Sample{{Labels: []Label{{"k", "added"}}, Value: 2}}},
			{Name: "g", Help: "Other help.", Type: TypeGauge, Samples: []Sample{{Labels: []Label{{"k", "x"}}}}},
			{Name: "g", Type: TypeCounter, Samples: []Sample{{Labels: []Label{{"k", "y"}}}}},
			{Name: "g", Type: TypeGauge, Samples: []Sample{{Labels: []Label{{"k", "z"}}}, {Labels: []Label{{"k", "builder"}}}}},
			nil,
		} {
			errs = append(errs, c.AddFamily(f))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"",
		`sdk: metric "g": help "Other help." differs from the earlier "Filled in."`,
		`sdk: metric "g": added as COUNTER, but already present as GAUGE`,
		`sdk: metric "g": series {k="builder"} added more than once`,
		"sdk: AddFamily: nil family"}
	for i, e := range errs {
		got := ""
		if e != nil {
			got = e.Error()
		}
		if got != want[i] {
			t.Errorf("AddFamily %d: error %q, want %q", i, got, want[i])
		}
	}
	if want := "# HELP g Filled in.\n# TYPE g gauge\ng{k=\"added\"} 2\ng{k=\"builder\"} 1\n"; out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

// The relaying path keeps what it was given: text the SDK wrote, parsed and
// added again, is written again byte for byte.
func TestRelayIsIdempotent(t *testing.T) {
	for _, file := range testdataFiles(t) {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		checkIdempotent(t, text)
	}
}

// testdataFiles lists the exposition files of the first-party plugins'
// tests, which live beside the sdk module in the repository.
func testdataFiles(t testing.TB) []string {
	t.Helper()
	files, _ := filepath.Glob("../plugins/*/testdata/*.prom")
	more, _ := filepath.Glob("../plugins/*/testdata/*/*.prom")
	return append(files, more...)
}

// checkIdempotent parses text, adds its families, writes them, and checks
// that doing so again changes nothing.
func checkIdempotent(t *testing.T, text []byte) {
	t.Helper()
	relay := func(text []byte) (string, bool) {
		fams, err := ParseText(text)
		if err != nil {
			return "", false
		}
		out, _, err := collectWith(t, "", func(c *Collection) error {
			for _, f := range fams {
				f.DropTimestamps()
				_ = c.AddFamily(f) // an invalid family is left out
			}
			return nil
		})
		if err != nil {
			t.Fatalf("relaying %q: %v", text, err)
		}
		return out, true
	}
	first, ok := relay(text)
	if !ok {
		return
	}
	second, ok := relay([]byte(first))
	if !ok {
		t.Fatalf("the SDK's output does not parse:\n%s", first)
	}
	if second != first {
		t.Fatalf("relaying twice changed the text:\n%s\nthen:\n%s", first, second)
	}
}

// FuzzParseText: ParseText never panics, and what it accepts goes through
// the collection to text that parses back to itself. The root module's
// internal/sdkcheck holds the same text to the agent's own parser.
func FuzzParseText(f *testing.F) {
	for _, file := range testdataFiles(f) {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 2\n# TYPE s summary\ns{quantile=\"0.5\"} NaN\n"))
	f.Add([]byte("x{a=\"\\\\\\n\\\"\"} -0 12\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		checkIdempotent(t, text)
	})
}
