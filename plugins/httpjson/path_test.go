package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		text  string
		steps []step
		err   string
	}{
		{text: "$"},
		{text: "$.a.b_c-d", steps: []step{{kind: stepKey, key: "a"}, {kind: stepKey, key: "b_c-d"}}},
		{text: "$.a[0][12]", steps: []step{{kind: stepKey, key: "a"}, {kind: stepIndex}, {kind: stepIndex, index: 12}}},
		{text: "$.items[*].x", steps: []step{{kind: stepKey, key: "items"}, {kind: stepWildcard}, {kind: stepKey, key: "x"}}},
		{text: `$['a.b']["c]'d"]`, steps: []step{{kind: stepKey, key: "a.b"}, {kind: stepKey, key: "c]'d"}}},
		{text: "@.name", steps: []step{{kind: stepKey, key: "name"}}},
		{text: "@"},
		{text: "a.b", err: `must start with $ or @`},
		{text: "", err: `must start with $ or @`},
		{text: "$.", err: `empty key after "$."`},
		{text: "$..a", err: `empty key`},
		{text: "$.a.*", err: `use [*]`},
		{text: "$a", err: `unexpected 'a' after "$"`},
		{text: "$[", err: `missing ]`},
		{text: "$[-1]", err: `[-1] is neither an index from 0`},
		{text: "$[+1]", err: `[+1] is neither`},
		{text: "$[a]", err: `[a] is neither`},
		{text: "$['a]", err: `unterminated quoted key`},
		{text: "$['a'x]", err: `unterminated quoted key`},
		{text: "$" + strings.Repeat(".a", maxPathSteps+1), err: "more than 64 steps"},
	} {
		p, err := parsePath(tc.text)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parsePath(%q) error = %v, want one containing %q", tc.text, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parsePath(%q): %v", tc.text, err)
			continue
		}
		if !reflect.DeepEqual(p.steps, tc.steps) {
			t.Errorf("parsePath(%q) = %+v, want %+v", tc.text, p.steps, tc.steps)
		}
	}
}

func TestEval(t *testing.T) {
	doc, err := decodeJSON([]byte(`{"a": {"b": [10, {"c": true}]}, "items": [{"x": 1, "n": "p"}, {"x": 2, "n": "q"}], "k": "v"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want []string // "at=value"
		err  string
	}{
		{path: "$.a.b[0]", want: []string{"$.a.b[0]=10"}},
		{path: "$.a.b[1].c", want: []string{"$.a.b[1].c=true"}},
		{path: "$.items[*].x", want: []string{"$.items[0].x=1", "$.items[1].x=2"}},
		{path: "$.a.b[2]", err: "$.a.b has 2 elements, no index 2"},
		{path: "$.a.x", err: `$.a has no key "x"`},
		{path: "$.k.x", err: "$.k is a string, not an object"},
		{path: "$.k[0]", err: "$.k is a string, not an array"},
		{path: "$.a[*]", err: "$.a is an object, not an array"},
		{path: "$.items[*].y", err: `$.items[0] has no key "y"`},
	} {
		p, err := parsePath(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := p.eval(doc, doc)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error = %v, want %q", tc.path, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		var got []string
		for _, m := range ms {
			text, _ := scalarText(m.value)
			got = append(got, m.at+"="+text)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.path, got, tc.want)
		}
	}

	// @ is relative to the element the wildcard selected.
	p, _ := parsePath("$.items[*]")
	ms, _ := p.eval(doc, doc)
	rel, _ := parsePath("@.n")
	for i, want := range []string{"p", "q"} {
		got, err := rel.eval(doc, ms[i].elem)
		if err != nil || got[0].value != want {
			t.Errorf("@.n of element %d = %v, %v; want %q", i, got, err, want)
		}
	}
}

// FuzzPath parses arbitrary paths and applies them to arbitrary documents:
// nothing may panic, a parsed path must print back to an equivalent one,
// and every match must say where it was found.
func FuzzPath(f *testing.F) {
	f.Add("$.items[*].x", `{"items": [{"x": 1}, {"x": [2]}]}`)
	f.Add(`$['a.b']["c"][0]`, `{"a.b": {"c": [null]}}`)
	f.Add("@[*][*]", `[[1, 2], [], [3]]`)
	f.Add("$[0]", `"string"`)
	f.Add(`$.a'"b`, `{"a'\"b": 1}`)
	f.Fuzz(func(t *testing.T, text, body string) {
		p, err := parsePath(text)
		if err != nil {
			return
		}
		printed := text[:1]
		for _, s := range p.steps {
			printed += s.String()
		}
		q, err := parsePath(printed)
		if err != nil || !reflect.DeepEqual(p.steps, q.steps) {
			t.Fatalf("%q printed as %q, which parses to %+v, %v", text, printed, q.steps, err)
		}
		doc, err := decodeJSON([]byte(body))
		if err != nil {
			return
		}
		ms, err := p.eval(doc, doc)
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.at == "" || (m.at[0] != '$' && m.at[0] != '@') {
				t.Fatalf("match without a location: %+v", m)
			}
			_, _ = number(m.value)
			_, _ = scalarText(m.value)
		}
	})
}
