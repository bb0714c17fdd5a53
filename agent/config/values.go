package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// loader collects problems while it walks the parsed YAML tree.
type loader struct {
	dir      string // absolute directory of the config file
	env      *env
	problems []Problem
	// unexpanded holds the paths of values whose ${…} could not be
	// expanded. Their problem is reported once; checks of the half-expanded
	// value would only repeat it in a confusing way.
	unexpanded map[string]bool
	// templated holds the paths of values that referenced a variable
	// (${…}): a replicated job's grouping needs one, or every replica
	// would push to the same group.
	templated map[string]bool
}

func (l *loader) add(path, format string, args ...any) {
	if l.unexpanded[path] {
		return
	}
	l.problems = append(l.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// keyPath appends a mapping key to a YAML path: ".name" for plain keys,
// `["/etc/app.d"]` for keys that contain dots, slashes or other characters,
// so that the path stays unambiguous.
func keyPath(parent, key string) string {
	plain := key != "" && isNameStart(key[0])
	for i := 0; plain && i < len(key); i++ {
		plain = isNameChar(key[i]) || key[i] == '-'
	}
	switch {
	case !plain:
		return parent + "[" + strconv.Quote(key) + "]"
	case parent == "":
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

// object is a YAML mapping whose keys were checked against a schema.
type object struct {
	path    string
	m       map[string]any
	allowed []string
}

// object checks that v is a mapping and reports every key that is not in
// allowed: a typo must not silently fall back to a default.
func (l *loader) object(path string, v any, what string, allowed ...string) (object, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		l.add(path, "expected %s (a mapping with keys %s), got %s", what, strings.Join(allowed, ", "), describe(v))
		return object{}, false
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(allowed, k) {
			l.add(keyPath(path, k), "unknown key%s; valid keys here are %s", suggest(k, allowed), strings.Join(allowed, ", "))
		}
	}
	return object{path: path, m: m, allowed: allowed}, true
}

// get returns the value of key and its path. A key that is absent or null
// ("key:" with nothing after it) is not ok: the default applies.
// Reading a key that is not declared is a bug in the loader, not in the file.
func (o object) get(key string) (any, string, bool) {
	if !slices.Contains(o.allowed, key) {
		panic("config: key " + key + " read but not declared in " + o.path)
	}
	v := o.m[key]
	return v, keyPath(o.path, key), v != nil
}

// suggest returns ` (did you mean "x"?)` for the closest allowed key.
func suggest(key string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(key), a); d < bestD {
			best, bestD = a, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describe says what a YAML value is, for "got …" in messages. Do not use it
// for secret fields; use kind.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return quote(v) + " (a string)"
	case bool:
		return fmt.Sprintf("%t (a boolean)", v)
	case int, int64, uint64, float64:
		return fmt.Sprintf("%v (a number)", v)
	case time.Time:
		return v.Format(time.RFC3339) + " (a date)"
	}
	return kind(v)
}

// kind names the type of a YAML value without showing it.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return "a number"
	case time.Time:
		return "a date"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("a %T", v)
}

// quote quotes a non-secret string for a message, shortened if long.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

func (l *loader) str(path string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		l.add(path, "expected a string, got %s; quote the value", describe(v))
	}
	return s, ok
}

// secret reads a secret string. Messages never show the value.
func (l *loader) secret(path string, v any) (Secret, bool) {
	s, ok := v.(string)
	switch {
	case !ok:
		l.add(path, "expected a string, got %s; quote the value", kind(v))
	case s == "":
		l.add(path, "must not be empty")
		ok = false
	}
	return Secret(s), ok
}

// nonEmptyList reads a list of what; empty is the message for an empty one.
func (l *loader) nonEmptyList(path string, v any, what, empty string) []any {
	list, ok := v.([]any)
	switch {
	case !ok:
		l.add(path, "expected a list of %s, got %s", what, describe(v))
	case len(list) == 0:
		l.add(path, "%s", empty)
	}
	return list
}

// nonEmpty reads a string that must not be empty.
func (l *loader) nonEmpty(path string, v any, hint string) (string, bool) {
	s, ok := l.str(path, v)
	if ok && strings.TrimSpace(s) == "" {
		l.add(path, "must not be empty; %s", hint)
		return "", false
	}
	return s, ok
}

func (l *loader) boolean(path string, v any) (bool, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		// A ${VAR} that expands to true/false is still a string after parsing.
		if v == "true" || v == "false" {
			return v == "true", true
		}
	}
	l.add(path, "expected true or false, got %s", describe(v))
	return false, false
}

// duration reads a Go duration string like 15s or 1m30s. A bare number is an
// error: "15" could mean seconds or milliseconds, so the unit must be written.
func (l *loader) duration(path string, v any) (time.Duration, string, bool) {
	s, ok := v.(string)
	if !ok {
		l.add(path, "expected a duration like 15s, got %s", describe(v))
		return 0, "", false
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		l.add(path, "expected a duration like 15s or 1m30s (units ms, s, m, h), got %s", quote(s))
		return 0, s, false
	}
	return d, s, true
}

// positiveDuration reads a positive duration into dst; a bad value is
// reported and leaves dst as it was.
func (l *loader) positiveDuration(p string, v any, dst *time.Duration) {
	d, raw, ok := l.duration(p, v)
	switch {
	case !ok:
	case d <= 0:
		l.add(p, "must be a positive duration, got %s", quote(raw))
	default:
		*dst = d
	}
}

// method reads put or post, in any case, into dst.
func (l *loader) method(p string, v any, dst *string) {
	s, ok := l.str(p, v)
	if !ok {
		return
	}
	switch m := strings.ToLower(s); m {
	case "put", "post":
		*dst = m
		return
	}
	l.add(p, "must be put (replace the group's metrics) or post (add to them), got %s", quote(s))
}

var sizeUnits = map[string]uint64{
	"": 1, "B": 1,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
	"KB": 1e3, "MB": 1e6, "GB": 1e9,
}

const sizeHint = "a size like 32MiB (units B, KiB, MiB, GiB, KB, MB, GB) or a number of bytes"

// size reads a byte size within [lo, hi] into dst; a bad value is reported
// and leaves dst as it was.
func (l *loader) size(p string, v any, dst *uint64, lo, hi uint64) {
	var n uint64
	var got string
	switch v := v.(type) {
	case int:
		if v < 0 {
			l.add(p, "must be between %s and %s, got %d", formatSize(lo), formatSize(hi), v)
			return
		}
		n, got = uint64(v), strconv.Itoa(v)
	case uint64:
		n, got = v, strconv.FormatUint(v, 10)
	case string:
		var ok bool
		if n, ok = parseSize(v); !ok {
			l.add(p, "expected %s, got %s", sizeHint, quote(v))
			return
		}
		got = quote(v)
	default:
		l.add(p, "expected %s, got %s", sizeHint, describe(v))
		return
	}
	if n < lo || n > hi {
		l.add(p, "must be between %s and %s, got %s", formatSize(lo), formatSize(hi), got)
		return
	}
	*dst = n
}

// size64 is size for the limits kept as int64 (hi fits in one).
func (l *loader) size64(p string, v any, dst *int64, lo, hi uint64) {
	n := uint64(*dst)
	l.size(p, v, &n, lo, hi)
	*dst = int64(n)
}

// count reads a whole number from lo to hi into dst: a YAML integer, or a
// string of digits (what ${VAR} expands to).
func (l *loader) count(p string, v any, dst *int, lo, hi int) {
	var n int
	switch v := v.(type) {
	case int:
		n = v
	case uint64:
		n = hi + 1
	case string:
		var err error
		if n, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
			l.add(p, "expected a whole number from %d to %d, got %s", lo, hi, quote(v))
			return
		}
	default:
		l.add(p, "expected a whole number from %d to %d, got %s", lo, hi, describe(v))
		return
	}
	if n < lo || n > hi {
		l.add(p, "must be a whole number from %d to %d, got %v", lo, hi, v)
		return
	}
	*dst = n
}

// parseSize parses "32MiB", "32 MiB", "1GB" or "65536".
func parseSize(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	mult, ok := sizeUnits[strings.TrimSpace(s[i:])]
	if err != nil || !ok || n > (1<<64-1)/mult {
		return 0, false
	}
	return n * mult, true
}

func formatSize(n uint64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
