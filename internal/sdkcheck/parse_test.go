package sdkcheck

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/pushagent/pushagent/sdk"
)

// relay is what a relaying plugin (textfile, scrape) does with text: parse
// it, drop timestamps, add every family. It returns the output and the names
// of the families AddFamily took.
func relay(t testing.TB, text []byte) (out []byte, fams []*sdk.Family, accepted map[string]bool) {
	t.Helper()
	fams, err := sdk.ParseText(text)
	if err != nil {
		return nil, nil, nil
	}
	accepted = map[string]bool{}
	out, err = collect(func(c *sdk.Collection) error {
		for _, f := range fams {
			g := *f
			g.Samples = append([]sdk.Sample(nil), f.Samples...)
			g.DropTimestamps()
			if c.AddFamily(&g) == nil {
				accepted[f.Name] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("a run that only added valid families failed: %v\ninput:\n%s", err, text)
	}
	return out, fams, accepted
}

// checkRelay is the contract of ParseText: whatever the agent's parser
// refuses, ParseText refuses; what ParseText accepts it reads as the agent
// does; and what the collection then writes, the agent parses into the same
// families, byte for byte as expfmt writes them.
func checkRelay(t testing.TB, text []byte) {
	t.Helper()
	want, hostErr := hostParse(text)
	fams, err := sdk.ParseText(text)
	switch {
	case err != nil:
		return // stricter than the agent is allowed
	case hostErr != nil:
		t.Fatalf("ParseText accepted what the agent refuses (%v):\n%q", hostErr, text)
	}
	diffFlat(t, "ParseText's and the agent's families", flatSDK(fams), flatDTO(want))

	out, _, accepted := relay(t, text)
	got, err := hostParse(out)
	if err != nil {
		t.Fatalf("the agent refuses the SDK's output: %v\ninput:\n%q\noutput:\n%s", err, text, out)
	}
	// What the agent would have had from the input itself, less what
	// AddFamily refused and the timestamps, as text format writes it.
	kept := map[string]*dto.MetricFamily{}
	for name, mf := range want {
		if accepted[name] {
			for _, m := range mf.Metric {
				m.TimestampMs = nil
			}
			kept[name] = mf
		}
	}
	canon, err := hostParse(hostWrite(t, kept))
	if err != nil {
		t.Fatalf("expfmt cannot parse its own output: %v", err)
	}
	diffFlat(t, "the agent's parse of the SDK's output and of the input", flatDTO(got), flatDTO(canon))
	if ref := hostWrite(t, got); !bytes.Equal(out, ref) {
		t.Fatalf("the SDK's output is not what expfmt writes:\n%s\nexpfmt:\n%s", out, ref)
	}
}

// TestGoldenFilesRoundTrip: every exposition file of the plugins' tests goes
// through ParseText and the collection unchanged if it is a golden file
// (written by the SDK's former expfmt encoder), and satisfies the contract
// either way.
func TestGoldenFilesRoundTrip(t *testing.T) {
	for _, file := range testdataProm(t) {
		t.Run(strings.TrimPrefix(file, "../../"), func(t *testing.T) {
			text := readFile(t, file)
			checkRelay(t, text)
			if filepath.Base(file) != "golden.prom" {
				return
			}
			out, fams, accepted := relay(t, text)
			if fams == nil {
				t.Fatal("ParseText refused a golden file")
			}
			for _, f := range fams {
				if !accepted[f.Name] {
					t.Errorf("AddFamily refused %s", f.Name)
				}
			}
			if !bytes.Equal(out, text) {
				t.Errorf("output differs from the golden file:\n%s", out)
			}
		})
	}
}

// parseCases are corners of the format, each checked against the agent's
// parser; want says whether ParseText must accept the text.
var parseCases = []struct {
	name, text string
	accept     bool
}{
	{"empty", "", true},
	{"blank lines and comments", "\n  \n# a comment\n#\n# HELP\n#TYPE\nx 1\n", true},
	{"no final newline", "x 1", false},
	{"blanks after the last newline", "x 1\n  \t", true},
	{"leading blanks", "  \t x 1\n", true},
	{"escapes", "# HELP x a\\\\b\\nc\\\"d \"e\n# TYPE x gauge\nx{a=\"q\\\"\\\\\\n\"} 1\n", true},
	{"bad help escape", "# HELP x a\\tb\nx 1\n", false},
	{"bad label escape", "x{a=\"\\t\"} 1\n", false},
	{"trailing backslash in help", "# HELP x a\\\nx 1\n", false},
	{"label value with a newline", "x{a=\"b\nc\"} 1\n", false},
	{"invalid UTF-8 label value", "x{a=\"\xff\"} 1\n", false},
	{"invalid UTF-8 help", "# HELP x \xff\nx 1\n", true},
	{"spaces in labels, trailing comma", "x { a = \"1\" , b=\"2\", } 1\n", true},
	{"no space before the value", "x{a=\"1\"}1\n", true},
	{"empty label set", "x{} 1\n", true},
	{"lone comma", "x{,} 1\n", false},
	{"missing comma", "x{a=\"1\"b=\"2\"} 1\n", false},
	{"duplicate label", "x{a=\"1\",a=\"2\"} 1\n", false},
	{"__name__ label", "x{__name__=\"y\"} 1\n", false},
	{"reserved-looking label", "x{__y=\"1\"} 1\n", true},
	{"quoted name", "{\"x\"} 1\n", false},
	{"name in braces", "{x, a=\"1\"} 1\n", false},
	{"quoted label name", "x{\"a\"=\"1\"} 1\n", false},
	{"values", "a NaN\nb +Inf\nc -Inf\nd -0\ne 1e-400\nf .5\ng 5.\nh 0x10\ni nan\nj INF\nk +infinity\n", false},
	{"go float syntax", "a NaN\nb +Inf\nc -Inf\nd -0\ne 1e-3\nf .5\ng 5.\ni nan\nj INF\nk +infinity\nl 1E3\n", true},
	{"out of range", "x 1e400\n", false},
	{"hex float", "x 0x1p3\n", false},
	{"underscore", "x 1_000\n", false},
	{"plus nan", "x +NaN\n", false},
	{"timestamp", "x 1 1700000000000\n", true},
	{"negative timestamp", "x 1 -5\n", true},
	{"float timestamp", "x 1 1.5\n", false},
	{"trailing blank after value", "x 1 \n", false},
	{"trailing blank after timestamp", "x 1 2 \n", false},
	{"junk after timestamp", "x 1 2 3\n", false},
	{"carriage return", "x 1\r\n", false},
	{"name then newline", "x\n", false},
	{"name glued to value", "x+1 2\n", false},
	{"TYPE twice", "# TYPE x gauge\n# TYPE x gauge\nx 1\n", false},
	{"HELP twice", "# HELP x a\n# HELP x b\nx 1\n", false},
	{"TYPE after samples", "x 1\n# TYPE x gauge\n", false},
	{"HELP after samples", "x 1\n# HELP x later\n", true},
	{"TYPE any case", "# TYPE x GaUgE\nx 1\n", true},
	{"TYPE with a trailing blank", "# TYPE x gauge \nx 1\n", false},
	{"unknown TYPE", "# TYPE x info\nx 1\n", false},
	{"gauge histogram", "# TYPE x gaugehistogram\nx_bucket{le=\"+Inf\"} 1\n", false},
	{"TYPE without a type", "# TYPE x\nx 1\n", true},
	{"HELP without text", "# HELP x \nx 1\n", true},
	{"bad name in TYPE", "# TYPE 1x gauge\n", false},
	{"family only declared", "# HELP x a\n# TYPE x gauge\n", true},
	{"samples spread out", "a 1\nb 2\na{x=\"1\"} 3\n", true},
	{"duplicate series", "a 1\na 2\n", true},
	{"histogram", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n", true},
	{"histogram without +Inf, sum or count", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\n", true},
	{"histogram float counts", "# TYPE h histogram\nh_bucket{le=\"1\"} 1.5\nh_count 2.5\n", true},
	{"histogram negative count", "# TYPE h histogram\nh_count -1\n", false},
	{"histogram negative bucket", "# TYPE h histogram\nh_bucket{le=\"1\"} -1\n", false},
	{"histogram negative zero", "# TYPE h histogram\nh_bucket{le=\"1\"} -0\nh_count -0\n", true},
	{"histogram bucket without le", "# TYPE h histogram\nh_bucket 1\n", false},
	{"histogram sample without suffix", "# TYPE h histogram\nh{le=\"1\"} 1\n", false},
	{"histogram sum with le", "# TYPE h histogram\nh_sum{le=\"1\"} 1\n", false},
	{"histogram bad le", "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", false},
	{"histogram NaN le", "# TYPE h histogram\nh_bucket{le=\"NaN\"} 1\n", false},
	{"le on a gauge", "x{le=\"x\"} 1\n", true},
	{"summary", "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n", true},
	{"summary NaN value", "# TYPE s summary\ns{quantile=\"0.5\"} NaN\ns_count 0\n", true},
	{"summary float count", "# TYPE s summary\ns_count 2.7\n", true},
	{"summary sample without quantile", "# TYPE s summary\ns 1\n", false},
	{"summary bad quantile", "# TYPE s summary\ns{quantile=\"a\"} 1\n", false},
	{"summary count with quantile", "# TYPE s summary\ns_count{quantile=\"0.5\"} 1\n", false},
	{"summary _bucket is its own family", "# TYPE s summary\ns_bucket 1\n", true},
	{"_count before its summary", "s_count 1\n# TYPE s summary\ns_count 2\ns{quantile=\"1\"} 3\n", true},
	{"summary and its _count family", "# TYPE s summary\ns{quantile=\"1\"} 1\n# TYPE s_count gauge\n", false},
	{"HELP of a summary's _count", "# TYPE s summary\n# HELP s_count text\ns{quantile=\"1\"} 1\n", true},
	{"histogram buckets of two series interleaved", "# TYPE h histogram\nh_bucket{a=\"1\",le=\"1\"} 1\nh_bucket{a=\"2\",le=\"1\"} 1\nh_count{a=\"1\"} 1\nh_count{a=\"2\"} 2\n", true},
	{"quantile label twice", "# TYPE s summary\ns{quantile=\"0.5\",quantile=\"0.9\"} 1\n", false},
}

func TestParseTextCases(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sdk.ParseText([]byte(tc.text))
			if (err == nil) != tc.accept {
				t.Errorf("ParseText error %v, want accepted %v", err, tc.accept)
			}
			checkRelay(t, []byte(tc.text))
		})
	}
}

// FuzzParseText: for any text, ParseText refuses what the agent refuses,
// reads what it accepts as the agent does, and the collection writes it so
// that the agent reads the same families again. It never panics.
func FuzzParseText(f *testing.F) {
	for _, file := range testdataProm(f) {
		f.Add(readFile(f, file))
	}
	for _, tc := range parseCases {
		f.Add([]byte(tc.text))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		checkRelay(t, text)
	})
}
