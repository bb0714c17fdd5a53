package config

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxValues bounds the values a file may expand to through aliases. A real
// schedules.yaml has hundreds; a few lines of nested aliases ("billion
// laughs") would otherwise make the agent build a tree of billions.
const maxValues = 100_000

// maxScanLines bounds offendingLine's search for a syntax error's line.
const maxScanLines = 200

// yamlTree is the koanf parser of schedules.yaml. It decodes the bytes once,
// into yaml.Node (the parser koanf's own YAML parser uses, in the form that
// keeps positions), and builds from it both the plain tree koanf holds and
// the line of every YAML path, for messages. Problems with the document
// itself (a duplicate key, a key that is a list, an alias cycle) are
// collected with their lines and returned as one *treeError.
type yamlTree struct {
	lines    map[string]int
	problems []Problem
	values   int
	active   map[*yaml.Node]bool // anchors being expanded, to refuse cycles
}

// treeError carries the problems the parser found in the document.
type treeError struct{ problems []Problem }

func (e *treeError) Error() string {
	return fmt.Sprintf("%d problem(s) in the YAML document", len(e.problems))
}

// errTooMany stops a conversion that would exceed maxValues.
var errTooMany = errors.New("too many values")

// Unmarshal implements koanf.Parser.
func (t *yamlTree) Unmarshal(b []byte) (map[string]any, error) {
	t.lines = map[string]int{}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, &treeError{problems: []Problem{offendingLine(b, syntaxProblem(err))}}
	}
	if len(doc.Content) == 0 { // an empty file, or only comments
		return map[string]any{}, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.AliasNode {
		root = root.Alias
	}
	if root.Kind != yaml.MappingNode {
		what := "a plain value"
		switch {
		case root.Kind == yaml.SequenceNode:
			what = "a list"
		case root.ShortTag() == "!!null":
			return map[string]any{}, nil
		case root.ShortTag() == "!!str":
			what = "a string"
		}
		return nil, &treeError{problems: []Problem{{Line: root.Line,
			Message: "the file must be a YAML mapping with gateway, defaults and jobs at the top level, got " + what}}}
	}
	v, err := t.value("", root, true)
	if errors.Is(err, errTooMany) {
		t.problems = append(t.problems, Problem{Message: fmt.Sprintf(
			"invalid YAML: the file expands to more than %d values through aliases (*name); write the values out or use fewer aliases", maxValues)})
	}
	if len(t.problems) > 0 {
		return nil, &treeError{problems: t.problems}
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// Marshal implements koanf.Parser; the agent never writes its config.
func (t *yamlTree) Marshal(map[string]any) ([]byte, error) {
	return nil, errors.New("config: writing YAML is not supported")
}

// value converts n at path. lines says whether n is where the file writes
// it (not reached through an alias), so that its lines are recorded.
func (t *yamlTree) value(path string, n *yaml.Node, lines bool) (any, error) {
	if t.values++; t.values > maxValues {
		return nil, errTooMany
	}
	switch n.Kind {
	case yaml.AliasNode:
		if t.active[n.Alias] {
			t.problems = append(t.problems, Problem{Line: n.Line,
				Message: fmt.Sprintf("invalid YAML: alias *%s refers to a value that contains it; an alias can only repeat a value defined before it", n.Value)})
			return nil, nil
		}
		if t.active == nil {
			t.active = map[*yaml.Node]bool{}
		}
		t.active[n.Alias] = true
		defer delete(t.active, n.Alias)
		return t.value(path, n.Alias, false)
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			p := indexPath(path, i)
			if lines {
				t.lines[p] = c.Line
			}
			v, err := t.value(p, c, lines)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case yaml.MappingNode:
		return t.mapping(path, n, lines)
	}
	var v any
	if err := n.Decode(&v); err != nil {
		// A scalar with an explicit tag it cannot have, like "!!int abc".
		// The message does not quote the value: it could be a secret.
		t.problems = append(t.problems, Problem{Path: path, Line: n.Line,
			Message: fmt.Sprintf("invalid YAML: the value cannot be read as %s; remove the tag", n.ShortTag())})
	}
	return v, nil
}

func (t *yamlTree) mapping(path string, n *yaml.Node, lines bool) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	at := map[string]int{} // key -> line, for duplicates
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			t.problems = append(t.problems, Problem{Line: k.Line,
				Message: "invalid YAML: a mapping key must be a plain value, not a list or mapping"})
			continue
		}
		key := k.Value
		if first, dup := at[key]; dup {
			t.problems = append(t.problems, Problem{Line: k.Line,
				Message: fmt.Sprintf("invalid YAML: mapping key %q already defined at line %d", key, first)})
			continue
		}
		at[key] = k.Line
		p := keyPath(path, key)
		if lines {
			if _, seen := t.lines[p]; !seen {
				t.lines[p] = k.Line
			}
		}
		val, err := t.value(p, v, lines)
		if err != nil {
			return nil, err
		}
		out[key] = val
	}
	// Merge keys ("<<: *base") fill in what the mapping does not set itself.
	for _, m := range merged {
		srcs := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			srcs = m.Content
		}
		for _, s := range srcs {
			v, err := t.value(path, s, false)
			if err != nil {
				return nil, err
			}
			from, ok := v.(map[string]any)
			if !ok {
				t.problems = append(t.problems, Problem{Line: s.Line,
					Message: "invalid YAML: a merge key (<<) must name a mapping or a list of mappings"})
				continue
			}
			for key, val := range from {
				if _, set := out[key]; !set {
					out[key] = val
				}
			}
		}
	}
	return out, nil
}

// syntaxProblem turns a syntax error of the YAML parser into a problem.
// yaml.v3 gives no position for syntax errors other than in its message,
// which has read "yaml: line N: …" since yaml.v2; the line is taken from
// there so that the problem reads file:line like all others. A message in
// another form is kept whole, without a line.
// offendingLine moves p, a syntax error, to the line of the token it is
// about. yaml.v3 gives the line where the enclosing block starts (its
// context), so an indentation error on line 18 of a list that starts on
// line 16 said line 16. The first prefix of the file, in whole lines from
// that one on, that fails with the same message ends with the offending
// line. Only the error path pays, a parse per line, for at most
// maxScanLines lines past the block's start; past that the block's line
// stands.
func offendingLine(b []byte, p Problem) Problem {
	if p.Line == 0 {
		return p
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	for n := p.Line; n <= min(len(lines), p.Line+maxScanLines); n++ {
		var doc yaml.Node
		err := yaml.Unmarshal(bytes.Join(lines[:n], nil), &doc)
		if err == nil || syntaxProblem(err).Message != p.Message {
			continue
		}
		if n != p.Line {
			text := strings.TrimRight(string(lines[n-1]), "\r\n")
			p.Message = fmt.Sprintf("%s at %q (in the block that starts at line %d: check the indentation)", p.Message, strings.TrimSpace(text), p.Line)
			p.Line = n
		}
		break
	}
	return p
}

func syntaxProblem(err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{Message: "invalid YAML: " + msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				p.Line, p.Message = n, "invalid YAML: "+text
			}
		}
	}
	return p
}
