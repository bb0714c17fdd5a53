package merge

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/prometheus/common/model"
)

// nameRule is the classic metric name rule, as the text format's readers
// and Pushgateways before 1.10 apply it.
const nameRule = "[a-zA-Z_:][a-zA-Z0-9_:]*: letters, digits, '_' and ':', not starting with a digit"

// invalidName finds the first metric name in text that breaks nameRule,
// in a sample line or a # HELP or # TYPE line. The parser's own error for
// such a name ("expected float as value, got \"-bytes{…\"") does not say
// that the name is the problem.
func invalidName(text []byte) (line int, name string, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, len(text)+1)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimLeft(sc.Text(), " \t")
		if rest, found := strings.CutPrefix(l, "#"); found {
			f := strings.Fields(rest)
			if len(f) < 2 || (f[0] != "HELP" && f[0] != "TYPE") {
				continue
			}
			l = f[1]
		}
		end := strings.IndexAny(l, "{ \t")
		if end < 0 {
			end = len(l)
		}
		if name := l[:end]; name != "" && !model.IsValidLegacyMetricName(name) {
			return n, name, true
		}
	}
	return 0, "", false
}

// explainParse adds to a parse error what was wrong with a name, when a
// name is what was wrong.
func explainParse(text []byte, err error) error {
	if n, name, ok := invalidName(text); ok {
		return fmt.Errorf("%w: line %d: %q is not a valid metric name; names match %s (parser: %w)", ErrBadOutput, n, name, nameRule, err)
	}
	return fmt.Errorf("%w: %w", ErrBadOutput, err)
}
