package config

import (
	"fmt"
	"strings"
)

// env is the injected environment, read once per load.
type env struct {
	vars     map[string]string
	hostname func() (string, error)

	hostOnce bool
	host     string
	hostErr  error
}

func newEnv(opts Options) *env {
	e := &env{vars: map[string]string{}, hostname: opts.Hostname}
	for _, kv := range opts.Environ() {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		// The first entry wins, as with os.Getenv.
		if _, dup := e.vars[name]; !dup {
			e.vars[name] = val
		}
	}
	return e
}

// lookup returns a variable for ${NAME}. HOSTNAME falls back to the host
// name: it is usually a shell variable that is not exported to the agent, and
// "instance: ${HOSTNAME}" is the grouping that keeps replicas apart.
// err is set only when HOSTNAME is unset and the host name is unknown.
func (e *env) lookup(name string) (val string, ok bool, err error) {
	val, ok = e.vars[name]
	if name != "HOSTNAME" || val != "" {
		return val, ok, nil
	}
	if !e.hostOnce {
		e.hostOnce = true
		e.host, e.hostErr = e.hostname()
	}
	if e.hostErr != nil || e.host == "" {
		return "", false, e.hostErr
	}
	return e.host, true, nil
}

// expandTree returns a copy of the parsed YAML tree with ${VAR} expanded in
// every string value (never in keys).
// Expansion happens after parsing, so a variable's value is always a plain
// string and can never inject YAML structure.
func (l *loader) expandTree(path string, v any) any {
	switch v := v.(type) {
	case string:
		return l.expand(path, v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, val := range v {
			kp := keyPath(path, k)
			if literalRuleKeys.MatchString(kp) {
				out[k] = val
				continue
			}
			out[k] = l.expandTree(kp, val)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, val := range v {
			out[i] = l.expandTree(indexPath(path, i), val)
		}
		return out
	}
	return v
}

// expand expands one string value:
//
//	${NAME}           the variable's value; an error if it is unset
//	${NAME:-default}  the default when the variable is unset or empty;
//	                  the default may itself contain ${…} and $$
//	$$                a literal $
//	$ + other         a literal $, except before a letter or _, which is an
//	                  error: "$HOME" was almost certainly meant as ${HOME}
//
// Messages name the variable but never its value.
func (l *loader) expand(path, s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	if strings.Contains(strings.ReplaceAll(s, "$$", ""), "${") {
		if l.templated == nil {
			l.templated = map[string]bool{}
		}
		l.templated[path] = true
	}
	x := expander{l: l, path: path, s: s}
	out, _ := x.scan(0, false, true)
	return out
}

type expander struct {
	l    *loader
	path string
	s    string
	bad  bool // a syntax problem was reported; stop reporting for this string
}

// scan expands from i until the end of the string or, when nested, until the
// "}" closing a default. eval=false checks syntax only (a default that is not
// used must not report unset variables). It returns the expansion and the index
// after what it consumed.
func (x *expander) scan(i int, nested, eval bool) (string, int) {
	s := x.s
	var b strings.Builder
	for i < len(s) {
		c := s[i]
		if nested && c == '}' {
			return b.String(), i + 1
		}
		if c != '$' {
			b.WriteByte(c)
			i++
			continue
		}
		var next byte
		if i+1 < len(s) {
			next = s[i+1]
		}
		switch {
		case next == '$':
			b.WriteByte('$')
			i += 2
		case next == '{':
			val, j, ok := x.reference(i, eval)
			if !ok {
				return b.String(), len(s)
			}
			b.WriteString(val)
			i = j
		case isNameStart(next):
			x.syntax(fmt.Sprintf("has a $ followed by a name at character %d; write ${NAME} to expand an environment variable, or $$ for a literal $", i+1))
			return b.String(), len(s)
		default:
			b.WriteByte('$')
			i++
		}
	}
	if nested {
		x.syntax("has an unterminated ${NAME:-default}; add the closing }")
	}
	return b.String(), len(s)
}

// reference expands the ${…} starting at s[i] == '$'.
func (x *expander) reference(i int, eval bool) (string, int, bool) {
	s := x.s
	j := i + 2
	if j >= len(s) || !isNameStart(s[j]) {
		x.syntax(fmt.Sprintf("has an invalid ${…} at character %d; write ${NAME} or ${NAME:-default}, where NAME is letters, digits and _, or $$ for a literal $", i+1))
		return "", 0, false
	}
	for j < len(s) && isNameChar(s[j]) {
		j++
	}
	name := s[i+2 : j]
	switch {
	case strings.HasPrefix(s[j:], "}"):
		if !eval {
			return "", j + 1, true
		}
		val, ok, err := x.l.env.lookup(name)
		if !ok {
			x.unset(name, err)
		}
		return val, j + 1, true
	case strings.HasPrefix(s[j:], ":-"):
		var val string
		var ok bool
		var err error
		if eval {
			val, ok, err = x.l.env.lookup(name)
			_ = err // a default is given, so an unknown host name is not a problem
		}
		useDefault := eval && (!ok || val == "")
		def, end := x.scan(j+2, true, useDefault)
		if x.bad {
			return "", 0, false
		}
		if useDefault {
			val = def
		}
		return val, end, true
	}
	x.syntax(fmt.Sprintf("has an invalid ${…} at character %d; write ${NAME} or ${NAME:-default}, or $$ for a literal $", i+1))
	return "", 0, false
}

func (x *expander) syntax(msg string) {
	if !x.bad {
		x.bad = true
		x.problem("%s", msg)
	}
}

func (x *expander) unset(name string, hostErr error) {
	if name == "HOSTNAME" && hostErr != nil {
		x.problem("environment variable HOSTNAME is not set and the host name is unknown (%v); set HOSTNAME, or give a default with ${HOSTNAME:-value}", hostErr)
		return
	}
	x.problem("environment variable %s is not set; set it, or give a default with ${%s:-value}", name, name)
}

// problem reports a problem with the string and marks its path so that later
// checks of the (half-expanded) value stay quiet.
func (x *expander) problem(format string, args ...any) {
	x.l.problems = append(x.l.problems, Problem{Path: x.path, Message: fmt.Sprintf(format, args...)})
	if x.l.unexpanded == nil {
		x.l.unexpanded = map[string]bool{}
	}
	x.l.unexpanded[x.path] = true
}

func isNameStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || ('0' <= c && c <= '9') }

func validEnvName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}
