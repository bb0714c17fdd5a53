package merge

import (
	"errors"
	"strings"
	"testing"
)

// An invalid metric name is named, with the rule, whichever error the
// parser gave for it.
func TestParseTextNamesInvalidMetricNames(t *testing.T) {
	cases := map[string]string{
		"netdev-bytes{dev=\"eth0\"} 1\n":                `line 1: "netdev-bytes" is not a valid metric name; names match [a-zA-Z_:][a-zA-Z0-9_:]*`,
		"# TYPE netdev-bytes counter\nnetdev-bytes 1\n": `line 1: "netdev-bytes" is not a valid metric name`,
		"ok 1\n# HELP 2xx Responses.\n2xx 3\n":          `line 2: "2xx" is not a valid metric name`,
		"ok{a=\"b\"} 1\nnet.bytes 2\n":                  `line 2: "net.bytes" is not a valid metric name`,
		"# TYPE ok gauge\nok twelve\n":                  `expected float as value, got "twelve"`,
	}
	for text, want := range cases {
		_, err := ParseText([]byte(text))
		if err == nil || !errors.Is(err, ErrBadOutput) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v\nwant it to contain %s", text, err, want)
		}
		if strings.Contains(want, "twelve") && strings.Contains(err.Error(), "not a valid metric name") {
			t.Errorf("%q: a bad value blamed on a name: %v", text, err)
		}
	}
}
