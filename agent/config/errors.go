package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is returned by [Load] and [Parse] when the file cannot be read or is
// not a valid configuration. It lists every problem found, not just the first.
type Error struct {
	// File is the configuration file's path as given to Load or Parse.
	File string
	// Problems is in document order: sorted by line, then by YAML path.
	// Problems with no line (a missing top-level section) come first.
	Problems []Problem

	cause error // an I/O error reading the file, for errors.Is / errors.As
}

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Path is the YAML path of the offending value, like
	// "jobs[2].collectors[0].timeout" or `jobs[0].collectors[0].mounts["/etc/app.d"]`.
	// It is empty for problems with the whole file (syntax errors, unreadable file).
	Path string
	// Line is the 1-based line of the offending key or list item (or of the
	// nearest enclosing one present in the file), or 0 when unknown, for
	// example for a required key that is missing.
	Line int
	// Message says what is wrong and what to do. It never contains a secret.
	Message string
}

// String formats the problem as "line N: path: message", leaving out the
// parts that are unknown or empty.
func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error returns one line per problem, each starting with the file name and,
// when known, the line (the file:line form editors jump to):
//
//	schedules.yaml: gateway: is required; add a gateway section with at least url: http://pushgateway:9091
//	schedules.yaml:7: jobs[0].every: expected a duration like 15s, got 15 (a number)
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		if p.Line > 0 {
			p.Line, lines[i] = 0, fmt.Sprintf("%s:%d: ", e.File, p.Line)
		} else {
			lines[i] = e.File + ": "
		}
		lines[i] += p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the I/O error that stopped the file from being read, if any,
// so that errors.Is(err, fs.ErrNotExist) works for a missing file.
func (e *Error) Unwrap() error { return e.cause }

// sortProblems orders problems by line, then by path, comparing the numbers in
// paths numerically so that jobs[2] comes before jobs[10].
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return naturalCompare(a.Path, b.Path)
	})
}

// naturalCompare compares strings, treating runs of digits as numbers.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digitPrefix(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
