package wasmhost

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/internal/testenv"
)

func TestStderrLinesKeepLevelsAndReason(t *testing.T) {
	cases := []struct {
		name, stderr string
		wantLog      []string
		reason       string
		noMount      bool
	}{
		{
			name:    "sdk error",
			stderr:  "level=INFO msg=\"read 3 entries\"\nlevel=ERROR msg=\"collect failed\" err=\"reading /data: open /data: Bad file number\"\n",
			wantLog: []string{`level=INFO msg="plugin log" message="read 3 entries"`, `level=ERROR msg="plugin log" message="collect failed" err="reading /data: open /data: Bad file number"`},
			reason:  "collect failed: reading /data: open /data: Bad file number",
			noMount: true,
		},
		{
			name:    "slog text handler",
			stderr:  "time=2026-01-02T03:04:05Z level=WARN msg=slow took=3s\n",
			wantLog: []string{`level=WARN msg="plugin log" message=slow took=3s`},
		},
		{
			name:    "C fprintf, then a warning",
			stderr:  "opendir /data: Capabilities insufficient\nlevel=WARN msg=\"retrying\"\n",
			wantLog: []string{`level=INFO msg="plugin stderr" line="opendir /data: Capabilities insufficient"`},
			reason:  "opendir /data: Capabilities insufficient",
			noMount: true,
		},
		{
			name:    "Rust panic",
			stderr:  "thread 'main' panicked at src/main.rs:9:40:\nfailed to find a pre-opened file descriptor through which \"/data\" could be opened\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
			reason:  "failed to find a pre-opened file descriptor through which \"/data\" could be opened",
			noMount: true,
		},
		{
			name:   "Go crash",
			stderr: "fatal error: out of memory\n\ngoroutine 1 [running]:\nruntime.throw({0x1, 0x2})\n\t/usr/local/go/src/runtime/panic.go:1101 +0x3\n",
			reason: "fatal error: out of memory",
		},
		{
			name:   "recovered panic",
			stderr: "level=ERROR msg=\"collect failed\" err=\"sdk: collect function panicked: boom\\ngoroutine 1 [running]:\\nmain.collect()\"\n",
			reason: "collect failed: sdk: collect function panicked: boom",
		},
		{
			name:    "not logfmt after all",
			stderr:  "level=ERROR is what I feel\n",
			wantLog: []string{`level=INFO msg="plugin stderr" line="level=ERROR is what I feel"`},
			reason:  "level=ERROR is what I feel",
		},
		{
			name:   "long reason is cut",
			stderr: "level=ERROR msg=\"" + strings.Repeat("é", 400) + "\"\n",
			reason: strings.Repeat("é", maxReason/2) + "…",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs testenv.Logs
			l := &lineLogger{logger: logs.Logger(), max: maxStderr}
			_, _ = l.Write([]byte(tc.stderr))
			l.flush()
			l.release(false) // a run that succeeded logs every line
			got := logs.String()
			for _, w := range tc.wantLog {
				if !strings.Contains(got, w) {
					t.Errorf("log lacks %s:\n%s", w, got)
				}
			}
			if r := l.reason(); r != tc.reason {
				t.Errorf("reason = %q, want %q", r, tc.reason)
			}
			if l.noMount != tc.noMount {
				t.Errorf("noMount = %v", l.noMount)
			}
		})
	}
}

// The line that is a failed run's reason is left to the run's error, which
// the agent logs: the failure is logged once, with the reason inside. The
// plugin's other lines are logged as they come.
func TestStderrReasonLoggedOnce(t *testing.T) {
	for _, tc := range []struct {
		name, stderr string
		logged       []string
		notLogged    string // when the error carries the reason
	}{
		{"sdk error", "level=INFO msg=\"read 3 entries\"\nlevel=ERROR msg=\"collect failed\" err=boom\n",
			[]string{`level=INFO msg="plugin log" message="read 3 entries"`}, "collect failed"},
		{"a later error is the reason", "level=ERROR msg=first\nlevel=ERROR msg=second\n",
			[]string{`level=ERROR msg="plugin log" message=first`}, "second"},
		{"C fprintf, then a warning", "opendir /data: Capabilities insufficient\nlevel=WARN msg=retrying\n",
			[]string{`level=WARN msg="plugin log" message=retrying`}, "opendir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs testenv.Logs
			l := &lineLogger{logger: logs.Logger(), max: maxStderr}
			_, _ = l.Write([]byte(tc.stderr))
			l.flush()
			l.release(true)
			got := logs.String()
			for _, w := range tc.logged {
				if !strings.Contains(got, w) {
					t.Errorf("log lacks %s:\n%s", w, got)
				}
			}
			if strings.Contains(got, tc.notLogged) {
				t.Errorf("the reason %q is logged though the run's error carries it:\n%s", tc.notLogged, got)
			}
		})
	}
}

// A reason that is less than its record (the first line of a script's
// traceback, other attributes) leaves the record to be logged: the error
// says why in one line, the log keeps the rest.
func TestStderrPartialReasonStillLogged(t *testing.T) {
	for _, stderr := range []string{
		"level=ERROR msg=\"collect failed\" err=\"script failed:\\nTraceback: queue.star:4:16: in <toplevel>\"\n",
		"level=ERROR msg=\"collect failed\" err=boom file=queue.star\n",
	} {
		var logs testenv.Logs
		l := &lineLogger{logger: logs.Logger(), max: maxStderr}
		_, _ = l.Write([]byte(stderr))
		l.flush()
		if r := l.reason(); !strings.HasPrefix(r, "collect failed: ") {
			t.Fatalf("%q: reason %q", stderr, r)
		}
		l.release(true)
		if got := logs.String(); !strings.Contains(got, `msg="plugin log" message="collect failed"`) {
			t.Errorf("%q: the record the reason cut is not logged:\n%s", stderr, got)
		}
	}
}

func TestParseLogfmtLevels(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"level=DEBUG msg=x": slog.LevelDebug,
		"level=info msg=x":  slog.LevelInfo,
		"level=WARN msg=x":  slog.LevelWarn,
		"level=ERROR":       slog.LevelError,
	} {
		rec, ok := parseLogfmt(in)
		if !ok || rec.level != want {
			t.Errorf("%q: level %v ok %v, want %v", in, rec.level, ok, want)
		}
	}
	for _, in := range []string{"level=LOUD msg=x", `level=ERROR msg="unterminated`, "time=now", "level=ERROR =x", `level=ERROR msg="a"b`} {
		if _, ok := parseLogfmt(in); ok {
			t.Errorf("%q parsed as a leveled record", in)
		}
	}
}

func TestExplainCompileNamesMemoryLimit(t *testing.T) {
	err := explainCompile(errors.New("section memory: min 88 pages (5 Mi) over limit of 64 pages (4 Mi)"))
	want := "its memory needs at least 5632KiB (88 pages) at start, more than the collector's memory_limit of 4MiB: set memory_limit to 6MiB or more"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v\nwant it to contain %s", err, want)
	}
	if err := explainCompile(errors.New("invalid magic")); err.Error() != "compile: invalid magic" {
		t.Errorf("other errors: %v", err)
	}
}

// The message above is wazero's own: a real module whose minimum memory
// is over the limit gets the hint.
func TestLoadNamesMemoryLimitNeeded(t *testing.T) {
	wat2wasm := testenv.RequireBinary(t, "wat2wasm")
	dir := t.TempDir()
	src := filepath.Join(dir, "big.wat")
	if err := os.WriteFile(src, []byte(`(module (memory (export "memory") 40) (func (export "_start")))`), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "big.wasm")
	if b, err := exec.Command(wat2wasm, src, "-o", bin).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	h := newHost(t, Options{})
	_, err := h.Load(context.Background(), bin, 1<<20)
	if err == nil || !strings.Contains(err.Error(), "more than the collector's memory_limit of 1MiB: set memory_limit to 3MiB or more") {
		t.Errorf("err = %v", err)
	}
}

// logErrorWAT calls the log host call at ERROR, then returns what its
// config says: 1 fails the run, 0 succeeds.
const logErrorWAT = `(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "pushagent_v1" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 32) "disk gone")
  (func (export "pushagent_collect") (result i32)
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 1))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $log (i32.const 3) (i32.const 32) (i32.const 9))
    (i32.sub (i32.load8_u (i32.const 100)) (i32.const 48))))
`

// An ERROR record of the log host call is the reason too: a failed run
// carries it and it is not logged besides; a run that succeeds logs it.
func TestLogCallErrorIsTheReason(t *testing.T) {
	wat2wasm := testenv.RequireBinary(t, "wat2wasm")
	dir := t.TempDir()
	src, wasm := filepath.Join(dir, "logerr.wat"), filepath.Join(dir, "logerr.wasm")
	if err := os.WriteFile(src, []byte(logErrorWAT), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(wat2wasm, src, "-o", wasm).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	p, err := newHost(t, Options{}).Load(context.Background(), wasm, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.Logs
	_, err = p.Run(context.Background(), Request{Config: []byte("1"), Logger: logs.Logger()})
	if err == nil || !strings.Contains(err.Error(), "the plugin reported failure: disk gone") {
		t.Errorf("a failed run's error %v does not carry the logged reason", err)
	}
	if l := logs.Take(); strings.Contains(l, "disk gone") {
		t.Errorf("the reason is logged besides the run's error:\n%s", l)
	}
	if _, err := p.Run(context.Background(), Request{Config: []byte("0"), Logger: logs.Logger()}); err != nil {
		t.Fatal(err)
	}
	if l := logs.Take(); !strings.Contains(l, `level=ERROR msg="plugin log" message="disk gone"`) {
		t.Errorf("a run that succeeds does not log its ERROR record:\n%s", l)
	}
}
