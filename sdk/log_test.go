package sdk

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func newLogger(w io.Writer) *Logger { return &Logger{w: w, mu: new(sync.Mutex)} }

type textError struct{}

func (textError) MarshalText() ([]byte, error) { return []byte("as text"), nil }

type stringer struct{}

func (stringer) String() string { return "a stringer" }

func TestLoggerLines(t *testing.T) {
	var nilErr error
	for _, tc := range []struct {
		name string
		log  func(l *Logger)
		want string
	}{
		{"plain", func(l *Logger) { l.Info("hello") }, "level=INFO msg=hello\n"},
		{"levels", func(l *Logger) { l.Debug("d"); l.Warn("w"); l.Error("e") }, "level=DEBUG msg=d\nlevel=WARN msg=w\nlevel=ERROR msg=e\n"},
		{"quoted message", func(l *Logger) { l.Warn("skipping file", "file", "a.prom", "err", errors.New(`parsing: line 3: "x"`)) },
			`level=WARN msg="skipping file" file=a.prom err="parsing: line 3: \"x\""` + "\n"},
		{"what needs quoting", func(l *Logger) {
			l.Info("m", "empty", "", "eq", "a=b", "nl", "a\nb", "tab", "a\tb", "bs", `a\b`, "uni", "ünï", "nbsp", "a\u00a0b", "bad", "\xff", "del", "\x7f")
		}, `level=INFO msg=m empty="" eq="a=b" nl="a\nb" tab="a\tb" bs=a\b uni=ünï nbsp="a\u00a0b" bad="\xff" del=` + "\x7f\n"},
		{"values", func(l *Logger) {
			l.Info("m", "int", 3, "neg", int64(-4), "uint", uint8(5), "float", 2.5, "f32", float32(0.5), "bool", true,
				"dur", 1500*time.Millisecond, "nil", nil, "nilerr", nilErr, "text", textError{}, "str", stringer{},
				"bytes", []byte("b b"), "slice", []string{"a", "b"}, "struct", struct{ A int }{1})
		}, `level=INFO msg=m int=3 neg=-4 uint=5 float=2.5 f32=0.5 bool=true dur=1.5s nil=<nil> nilerr=<nil> text="as text" str="a stringer" bytes="b b" slice="[a b]" struct={A:1}` + "\n"},
		{"bad keys", func(l *Logger) { l.Info("m", 1, "k", "v", "lone") }, "level=INFO msg=m !BADKEY=1 k=v !BADKEY=lone\n"},
		{"key needing quotes", func(l *Logger) { l.Info("m", "a key", 1) }, `level=INFO msg=m "a key"=1` + "\n"},
		{"with", func(l *Logger) { l.With("file", "a b").With("n", 1).Info("m", "k", "v") }, `level=INFO msg=m file="a b" n=1 k=v` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.log(newLogger(&buf))
			if buf.String() != tc.want {
				t.Errorf("got  %s\nwant %s", buf.String(), tc.want)
			}
		})
	}
}

// A nil logger is a no-op, so helpers can take one from tests that have
// none.
func TestNilLogger(t *testing.T) {
	var l *Logger
	l.Info("nothing")
	l.With("k", "v").Warn("nothing")
}

func TestLoggerWholeLines(t *testing.T) {
	var buf bytes.Buffer
	l := newLogger(&buf)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				l.With("g", i).Info("line", "text", strings.Repeat("x", 100))
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 400 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, line := range lines {
		if !strings.HasPrefix(line, "level=INFO msg=line g=") || !strings.HasSuffix(line, strings.Repeat("x", 100)) {
			t.Fatalf("torn line %q", line)
		}
	}
}
