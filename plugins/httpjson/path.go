package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A path is the small JSONPath subset the plugin documents:
//
//	$                 the whole document
//	$.a.b             object keys (any characters but . [ ] and space)
//	$['a.b']["c d"]   quoted keys, for the other characters (no escapes)
//	$.a[0]            an array index (from 0)
//	$.items[*].x      every element of an array: one result per element
//	@.name            relative to the element the wildcard is at
//
// It is written here rather than taken from a JSONPath library because the
// subset is small, its errors can name exactly where a document did not
// match, and paths come from the config while documents come from the
// network: both are parsed by code that is fuzzed here.
type path struct {
	text     string
	relative bool // starts with @
	steps    []step
}

type stepKind int

const (
	stepKey stepKind = iota
	stepIndex
	stepWildcard
)

type step struct {
	kind  stepKind
	key   string
	index int
}

func (s step) String() string {
	switch s.kind {
	case stepIndex:
		return "[" + strconv.Itoa(s.index) + "]"
	case stepWildcard:
		return "[*]"
	}
	if s.key != "" && !strings.ContainsAny(s.key, ".[] ") {
		return "." + s.key
	}
	if strings.Contains(s.key, "'") {
		return `["` + s.key + `"]`
	}
	return "['" + s.key + "']"
}

// maxPathSteps bounds a path; no real document nests deeper.
const maxPathSteps = 64

func parsePath(text string) (path, error) {
	p := path{text: text}
	switch {
	case strings.HasPrefix(text, "$"):
	case strings.HasPrefix(text, "@"):
		p.relative = true
	default:
		return p, fmt.Errorf("path %q must start with $ or @", text)
	}
	rest := text[1:]
	for rest != "" {
		if len(p.steps) == maxPathSteps {
			return p, fmt.Errorf("path %q has more than %d steps", text, maxPathSteps)
		}
		var s step
		switch rest[0] {
		case '.':
			end := strings.IndexAny(rest[1:], ".[] ")
			if end < 0 {
				end = len(rest) - 1
			}
			key := rest[1 : 1+end]
			if key == "" {
				return p, fmt.Errorf("path %q: empty key after %q", text, text[:len(text)-len(rest)+1])
			}
			if key == "*" {
				return p, fmt.Errorf("path %q: use [*] for every element of an array", text)
			}
			s, rest = step{kind: stepKey, key: key}, rest[1+end:]
		case '[':
			if len(rest) > 1 && (rest[1] == '\'' || rest[1] == '"') {
				// A quoted key may hold ] and dots: look for the closing quote.
				close := strings.IndexByte(rest[2:], rest[1])
				if close < 0 || len(rest) < close+4 || rest[close+3] != ']' {
					return p, fmt.Errorf("path %q: unterminated quoted key", text)
				}
				s, rest = step{kind: stepKey, key: rest[2 : 2+close]}, rest[close+4:]
				break
			}
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return p, fmt.Errorf("path %q: missing ]", text)
			}
			inner := rest[1:end]
			switch n, err := strconv.Atoi(inner); {
			case inner == "*":
				s = step{kind: stepWildcard}
			case err == nil && n >= 0 && inner[0] != '+':
				s = step{kind: stepIndex, index: n}
			default:
				return p, fmt.Errorf("path %q: [%s] is neither an index from 0, [*] nor a quoted key", text, inner)
			}
			rest = rest[end+1:]
		default:
			return p, fmt.Errorf("path %q: unexpected %q after %q; keys follow a dot", text, rest[0], text[:len(text)-len(rest)])
		}
		p.steps = append(p.steps, s)
	}
	return p, nil
}

func (p path) hasWildcard() bool {
	for _, s := range p.steps {
		if s.kind == stepWildcard {
			return true
		}
	}
	return false
}

// match is one value a path selected, with the array element its last
// wildcard was at, which @ paths of the same series are relative to, and
// the concrete path to it for error messages ($.items[3].name).
type match struct {
	value any
	elem  any
	at    string
}

// eval applies p to doc, a value decoded with json.Decoder.UseNumber.
// elem is where a relative path starts. A key or index the document does
// not have is an error naming the part of the path that matched.
func (p path) eval(doc, elem any) ([]match, error) {
	start := match{value: doc, elem: elem, at: "$"}
	if p.relative {
		start = match{value: elem, elem: elem, at: "@"}
	}
	ms := []match{start}
	for _, s := range p.steps {
		next := ms[:0:0]
		for _, m := range ms {
			switch s.kind {
			case stepKey:
				obj, ok := m.value.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s is %s, not an object", m.at, kind(m.value))
				}
				v, ok := obj[s.key]
				if !ok {
					return nil, fmt.Errorf("%s has no key %q", m.at, s.key)
				}
				next = append(next, match{value: v, elem: m.elem, at: m.at + s.String()})
			case stepIndex:
				arr, ok := m.value.([]any)
				if !ok {
					return nil, fmt.Errorf("%s is %s, not an array", m.at, kind(m.value))
				}
				if s.index >= len(arr) {
					return nil, fmt.Errorf("%s has %d elements, no index %d", m.at, len(arr), s.index)
				}
				next = append(next, match{value: arr[s.index], elem: m.elem, at: m.at + s.String()})
			case stepWildcard:
				arr, ok := m.value.([]any)
				if !ok {
					return nil, fmt.Errorf("%s is %s, not an array", m.at, kind(m.value))
				}
				for i, v := range arr {
					next = append(next, match{value: v, elem: v, at: m.at + "[" + strconv.Itoa(i) + "]"})
				}
			}
		}
		ms = next
	}
	return ms, nil
}

// kind names a decoded JSON value's type for error messages.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// number converts a selected value to a sample value: numbers as they are,
// booleans as 1 and 0, strings holding a number parsed.
func number(v any) (float64, error) {
	switch v := v.(type) {
	case json.Number:
		return strconv.ParseFloat(string(v), 64)
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, fmt.Errorf("string %q is not a number", v)
		}
		return f, nil
	}
	return 0, fmt.Errorf("%s is not a number", kind(v))
}

// scalarText is the text of a scalar: a string as it is, a number as
// written in the document, a boolean as true or false. value_map keys and
// label values are compared and set with it.
func scalarText(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return string(v), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	return "", errors.New(kind(v) + " is not a string, number or boolean")
}
