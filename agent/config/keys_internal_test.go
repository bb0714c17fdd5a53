package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// declared walks the declarations from the top and returns every key by the
// name docs/config.md gives it ("gateway.tls.ca_file", "jobs[].every", and
// collector keys bare: "timeout", "http.url").
func declared() map[string]docField {
	out := map[string]docField{}
	var walk func(s docSection, prefix string)
	walk = func(s docSection, prefix string) {
		for _, f := range s.docFields() {
			path := prefix + f.name
			out[path] = f
			if f.sub == nil {
				continue
			}
			child := path + "."
			switch {
			case f.bare:
				child = ""
			case f.list:
				child = path + "[]."
			}
			walk(f.sub(), child)
		}
	}
	walk(&rootSection, "")
	return out
}

type docRow struct {
	line      int
	names     []string
	typ, def  string
	fromTable string
}

var backticked = regexp.MustCompile("`([^`]+)`")

// referenceRows returns the rows of docs/config.md's reference tables (those
// whose header starts "| key | type | default |"). A row may name several
// keys ("`http.tls.ca_file`, `cert_file`"): the later ones are siblings of
// the first.
func referenceRows(t *testing.T) []docRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []docRow
	inTable := false
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "| key | type | default |"):
			inTable = true
			continue
		case !strings.HasPrefix(line, "|"):
			inTable = false
			continue
		case !inTable || strings.HasPrefix(line, "|---"):
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) < 3 {
			t.Fatalf("config.md:%d: a reference row needs key, type and default: %s", i+1, line)
		}
		r := docRow{line: i + 1, typ: strings.TrimSpace(cells[1]), def: strings.TrimSpace(cells[2])}
		for j, m := range backticked.FindAllStringSubmatch(cells[0], -1) {
			name := m[1]
			if j > 0 {
				first := r.names[0]
				name = first[:strings.LastIndexByte(first, '.')+1] + name
			}
			r.names = append(r.names, name)
		}
		rows = append(rows, r)
	}
	if len(rows) < 40 {
		t.Fatalf("found %d reference rows in docs/config.md; did its tables change form?", len(rows))
	}
	return rows
}

// TestReferenceMatchesDeclarations holds docs/config.md's reference tables
// to the declarations the loader reads keys by: every documented key exists,
// every key is documented, and a row for one key gives its declared type and
// default (the default is made from the constant the loader applies).
func TestReferenceMatchesDeclarations(t *testing.T) {
	keys := declared()
	documented := map[string]bool{}
	for _, r := range referenceRows(t) {
		for _, name := range r.names {
			f, ok := keys[name]
			if !ok {
				t.Errorf("config.md:%d: documents %s, which the loader does not declare", r.line, name)
				continue
			}
			documented[name] = true
			if len(r.names) > 1 {
				continue
			}
			if r.typ != f.typ {
				t.Errorf("config.md:%d: %s: type %q, declared %q", r.line, name, r.typ, f.typ)
			}
			if r.def != f.def {
				t.Errorf("config.md:%d: %s: default %q, declared %q", r.line, name, r.def, f.def)
			}
		}
	}
	for name, f := range keys {
		if f.sub == nil && !documented[name] {
			t.Errorf("%s is declared but has no row in docs/config.md's reference tables", name)
		}
	}
}
