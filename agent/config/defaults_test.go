package config_test

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/agent/config"
)

// ownedDefaults are the defaults this package declares that a consumer,
// given a zero value by code that built a config rather than loaded it,
// might be tempted to apply again with its own literal.
var ownedDefaults = map[string]int64{
	"DefaultGatewayTimeout":     int64(config.DefaultGatewayTimeout),
	"DefaultRemoteWriteTimeout": int64(config.DefaultRemoteWriteTimeout),
	"DefaultOTLPTimeout":        int64(config.DefaultOTLPTimeout),
	"DefaultBufferMaxSize":      config.DefaultBufferMaxSize,
	"DefaultMaxOutput":          config.DefaultMaxOutput,
	"DefaultMaxResponse":        config.DefaultMaxResponse,
	"DefaultShutdownGrace":      int64(config.DefaultShutdownGrace),
}

// TestConsumersDoNotRedefault holds each default to one owner: no Go
// source outside this package falls back from a zero value to a constant of
// its own that equals one of config's defaults, in either shape
//
//	if x <= 0 { x = 10 * time.Second }      // or a local const of that value
//	fs.Duration("flag", 10*time.Second, …)  // a flag's default
//
// A consumer takes config's exported constant instead, so that changing a
// default changes it everywhere. The check is syntactic (go/parser and
// go/constant, resolving the package's own constants), so it needs no build
// and sees every GOOS.
func TestConsumersDoNotRedefault(t *testing.T) {
	root := filepath.Join("..", "..")
	// internal/ holds test harnesses with flags of their own, not
	// consumers of the config.
	found := redefaults(t, root, []string{"agent", "cmd"}, filepath.Join("agent", "config"))
	pending := map[string]bool{}
	for k := range knownRedefaults {
		pending[k] = true
	}
	for _, f := range found {
		file, _, _ := strings.Cut(f, ":")
		what := f[strings.Index(f, ": ")+2:]
		what, _, _ = strings.Cut(what, " falls back")
		if k := filepath.ToSlash(file) + " " + what; knownRedefaults[k] != "" {
			delete(pending, k)
			continue
		}
		t.Errorf("%s", f)
	}
	for k := range pending {
		t.Errorf("%s no longer re-defaults; remove it from knownRedefaults", k)
	}
}

// knownRedefaults are re-defaults left for a later change, by "file what",
// with why. An entry that no longer matches fails the test, so the list
// only shrinks.
var knownRedefaults = map[string]string{}

// TestRedefaultCheckCatches keeps the check above from passing by seeing
// nothing: each shape of re-default, in a scratch package, is reported.
func TestRedefaultCheckCatches(t *testing.T) {
	dir := t.TempDir()
	src := `package x

import "time"

const fallback = 256 << 20

var maxOutput = int64(1 << 20)

func f(timeout time.Duration, size, other int64, fs interface{ Duration(string, time.Duration, string) *time.Duration }) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if size == 0 {
		size = fallback
	}
	if other <= 0 {
		other = 4 << 20
	}
	if other <= 0 {
		other = 3 << 20 // not a default: fine
	}
	fs.Duration("shutdown-grace", 10*time.Second, "")
	fs.Duration("other", 7*time.Second, "")
}
`
	if err := writeFile(filepath.Join(dir, "x", "x.go"), src); err != nil {
		t.Fatal(err)
	}
	found := redefaults(t, dir, []string{"x"}, "none")
	want := []string{"x.go:11:", "x.go:14:", "x.go:17:", "x.go:22:"}
	if len(found) != len(want) {
		t.Fatalf("found %d re-defaults, want %d:\n%s", len(found), len(want), strings.Join(found, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(found[i], w) {
			t.Errorf("finding %d = %q, want it at %s", i, found[i], w)
		}
	}
}

// redefaults lists, as "file:line: …" messages, the re-defaults in the
// non-test Go files under root/dirs, except under root/skip.
func redefaults(t *testing.T, root string, dirs []string, skip string) []string {
	t.Helper()
	byValue := map[string][]string{}
	for name, v := range ownedDefaults {
		k := constant.MakeInt64(v).ExactString()
		byValue[k] = append(byValue[k], "config."+name)
	}
	for _, names := range byValue {
		slices.Sort(names)
	}
	var out []string
	for _, d := range dirs {
		pkgs := map[string][]*ast.File{}
		fset := token.NewFileSet()
		err := filepath.WalkDir(filepath.Join(root, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if e.IsDir() {
				if rel == skip || e.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			pkgs[filepath.Dir(p)] = append(pkgs[filepath.Dir(p)], f)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, files := range pkgs {
			ev := evaluator{consts: map[string]ast.Expr{}}
			for _, f := range files {
				ev.collect(f)
			}
			report := func(pos token.Pos, what string, e ast.Expr) {
				v, ok := ev.eval(e, 0)
				if !ok {
					return
				}
				if names := byValue[v.ExactString()]; names != nil {
					p := fset.Position(pos)
					rel, _ := filepath.Rel(root, p.Filename)
					out = append(out, fmt.Sprintf("%s:%d: %s falls back to a literal equal to %s; use the config package's constant, which owns that default", rel, p.Line, what, strings.Join(names, " or ")))
				}
			}
			for _, f := range files {
				ast.Inspect(f, func(n ast.Node) bool {
					switch n := n.(type) {
					case *ast.IfStmt:
						x, ok := zeroTest(n.Cond)
						if !ok {
							return true
						}
						for _, s := range n.Body.List {
							as, ok := s.(*ast.AssignStmt)
							if !ok || len(as.Lhs) != 1 || len(as.Rhs) != 1 || varName(as.Lhs[0]) != x {
								continue
							}
							report(as.Pos(), x, as.Rhs[0])
						}
					case *ast.CallExpr:
						sel, ok := n.Fun.(*ast.SelectorExpr)
						if ok && len(n.Args) == 3 && slices.Contains([]string{"Duration", "Int", "Int64", "Uint64"}, sel.Sel.Name) {
							if lit, ok := n.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								report(n.Args[1].Pos(), "flag "+lit.Value, n.Args[1])
							}
						}
					}
					return true
				})
			}
		}
	}
	slices.Sort(out)
	return out
}

// zeroTest returns x of a condition "x <= 0" or "x == 0".
func zeroTest(cond ast.Expr) (string, bool) {
	b, ok := cond.(*ast.BinaryExpr)
	if !ok || (b.Op != token.LEQ && b.Op != token.EQL) {
		return "", false
	}
	if lit, ok := b.Y.(*ast.BasicLit); !ok || lit.Value != "0" {
		return "", false
	}
	return varName(b.X), true
}

// varName prints a variable or field expression ("timeout", "s.timeout",
// "req.MaxOutput"); "" for anything else.
func varName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		if x := varName(e.X); x != "" {
			return x + "." + e.Sel.Name
		}
	}
	return ""
}

// evaluator folds the constant expressions defaults are written in:
// integer literals, time units, the package's own constants (and the
// initial values of its variables), conversions and arithmetic.
type evaluator struct {
	consts map[string]ast.Expr
}

func (ev *evaluator) collect(f *ast.File) {
	ast.Inspect(f, func(n ast.Node) bool {
		g, ok := n.(*ast.GenDecl)
		if !ok || (g.Tok != token.CONST && g.Tok != token.VAR) {
			return true
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					ev.consts[name.Name] = vs.Values[i]
				}
			}
		}
		return true
	})
}

var timeUnits = map[string]time.Duration{
	"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond, "Millisecond": time.Millisecond,
	"Second": time.Second, "Minute": time.Minute, "Hour": time.Hour,
}

func (ev *evaluator) eval(e ast.Expr, depth int) (constant.Value, bool) {
	if depth > 20 {
		return nil, false
	}
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.INT {
			return nil, false
		}
		v := constant.MakeFromLiteral(e.Value, e.Kind, 0)
		return v, v.Kind() == constant.Int
	case *ast.ParenExpr:
		return ev.eval(e.X, depth+1)
	case *ast.Ident:
		if x, ok := ev.consts[e.Name]; ok {
			return ev.eval(x, depth+1)
		}
	case *ast.SelectorExpr:
		if pkg, ok := e.X.(*ast.Ident); ok && pkg.Name == "time" {
			if d, ok := timeUnits[e.Sel.Name]; ok {
				return constant.MakeInt64(int64(d)), true
			}
		}
	case *ast.CallExpr: // a conversion: time.Duration(x), int64(x)
		if len(e.Args) == 1 {
			return ev.eval(e.Args[0], depth+1)
		}
	case *ast.BinaryExpr:
		x, ok := ev.eval(e.X, depth+1)
		if !ok {
			return nil, false
		}
		y, ok := ev.eval(e.Y, depth+1)
		if !ok {
			return nil, false
		}
		switch e.Op {
		case token.SHL, token.SHR:
			s, ok := constant.Uint64Val(y)
			if !ok {
				return nil, false
			}
			return constant.Shift(x, e.Op, uint(s)), true
		case token.ADD, token.SUB, token.MUL:
			return constant.BinaryOp(x, e.Op, y), true
		case token.QUO:
			if constant.Sign(y) == 0 {
				return nil, false
			}
			return constant.BinaryOp(x, token.QUO_ASSIGN, y), true
		}
	}
	return nil, false
}

func writeFile(name, data string) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return os.WriteFile(name, []byte(data), 0o644)
}
