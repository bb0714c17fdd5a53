package wasmhost

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// buildWAT compiles testdata/<name>.wat with Debian's wabt into a temp dir.
func buildWAT(t *testing.T, name string) string {
	t.Helper()
	wat2wasm := testenv.RequireBinary(t, "wat2wasm")
	out := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command(wat2wasm, filepath.Join("testdata", name+".wat"), "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", name, err, b)
	}
	return out
}

func newHost(t *testing.T, opts Options) *Host {
	t.Helper()
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func TestCommandReadsConfigWritesOutput(t *testing.T) {
	h := newHost(t, Options{})
	p, err := h.Load(context.Background(), buildWAT(t, "hello"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if p.form != commandForm {
		t.Fatalf("form = %v, want command", p.form)
	}
	for _, cfg := range []string{"a", "second run"} {
		out, err := p.Run(context.Background(), Request{Config: []byte(cfg)})
		if err != nil {
			t.Fatal(err)
		}
		if want := `wat_hello{config="` + cfg + "\"} 1\n"; string(out) != want {
			t.Errorf("output = %q, want %q", out, want)
		}
	}
}

func TestReactorWarmInstanceFreshStdin(t *testing.T) {
	h := newHost(t, Options{})
	p, err := h.Load(context.Background(), buildWAT(t, "reactor"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if p.form != reactorForm {
		t.Fatalf("form = %v, want reactor", p.form)
	}
	var logs testenv.Logs
	for i, cfg := range []string{"one", "two", "three"} {
		out, err := p.Run(context.Background(), Request{Config: []byte(cfg), Logger: logs.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		want := "wat_reactor_calls{config=\"" + cfg + "\"} " + string(rune('1'+i)) + "\n"
		if string(out) != want {
			t.Errorf("run %d output = %q, want %q (instance not reused, or stdin not fresh)", i, out, want)
		}
	}
	if got, _ := p.Warm(); got != 1 {
		t.Errorf("idle instances = %d, want 1", got)
	}
	if !strings.Contains(logs.String(), "collect called") {
		t.Errorf("host log call did not reach the logger:\n%s", logs.String())
	}
}

func TestReactorPoolIsPerSandbox(t *testing.T) {
	h := newHost(t, Options{})
	p, err := h.Load(context.Background(), buildWAT(t, "reactor"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	a := Request{Config: []byte("a"), Sandbox: Sandbox{Env: map[string]string{"X": "1"}}}
	b := Request{Config: []byte("b"), Sandbox: Sandbox{Env: map[string]string{"X": "2"}}}
	for i := 0; i < 2; i++ {
		if _, err := p.Run(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	out, err := p.Run(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	// A different grant must get its own instance, so its count starts at 1.
	if !bytes.HasSuffix(out, []byte("} 1\n")) {
		t.Errorf("sandbox b shared an instance with sandbox a: %q", out)
	}
}

func TestMisbehavingCommand(t *testing.T) {
	h := newHost(t, Options{})
	p, err := h.Load(context.Background(), buildWAT(t, "misbehave"), 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		mode    string
		timeout time.Duration
		want    string
	}{
		{"l", 200 * time.Millisecond, "timed out"},
		{"t", time.Second, "unreachable"},
		{"e", time.Second, "exited with code 3"},
		{"f", 5 * time.Second, "output exceeds max_output"},
		{"m", 5 * time.Second, "unreachable"},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			start := time.Now()
			out, err := p.Run(ctx, Request{Config: []byte(tc.mode), MaxOutput: 4096})
			if err == nil {
				t.Fatalf("run succeeded with output %q", out)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "misbehave.wasm") {
				t.Errorf("error = %q, want it to name the plugin and contain %q", err, tc.want)
			}
			if out != nil {
				t.Errorf("a failed run returned output %q", out)
			}
			if took := time.Since(start); took > tc.timeout+time.Second {
				t.Errorf("run took %v, past its deadline %v", took, tc.timeout)
			}
		})
	}
	// After all that, the plugin still works.
	out, err := p.Run(context.Background(), Request{Config: []byte("ok")})
	if err != nil || string(out) != "x 1\nx 1\nx 1\nx 1\n" {
		t.Fatalf("normal run after failures: %q, %v", out, err)
	}
}

func TestStderrIsBoundedAndLogged(t *testing.T) {
	h := newHost(t, Options{})
	p, err := h.Load(context.Background(), buildWAT(t, "misbehave"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.Logs
	out, err := p.Run(context.Background(), Request{Config: []byte("s"), Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 16 {
		t.Errorf("output = %q", out)
	}
	l := logs.String()
	if !strings.Contains(l, "plugin stderr truncated") {
		t.Errorf("no truncation notice in log")
	}
	if n := strings.Count(l, "plugin stderr"); n > maxStderrLines+1 || len(l) > 4*maxStderr {
		t.Errorf("log grew to %d bytes, %d records for a stderr flood; bound is %d lines", len(l), n, maxStderrLines)
	}
}

func TestMemoryLimitIsEnforced(t *testing.T) {
	h := newHost(t, Options{})
	// hello declares 1 page; with a 1-page limit it runs, but the 'm'
	// mode of misbehave must stop at the limit, not at 4 GiB.
	p, err := h.Load(context.Background(), buildWAT(t, "misbehave"), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Run(context.Background(), Request{Config: []byte("m")})
	// The trap alone would also follow a grow refused at 4 GiB; the hint
	// says the run ended at this collector's 64 KiB limit.
	if err == nil || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "memory_limit is 64KiB") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadRefusesBadModules(t *testing.T) {
	h := newHost(t, Options{})
	notWasm := filepath.Join(t.TempDir(), "plugin.wasm")
	if err := os.WriteFile(notWasm, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		want string
	}{
		{buildWAT(t, "badimport"), "imports env.get_secret, which the host does not provide"},
		{notWasm, "not a WebAssembly module"},
		{filepath.Join(t.TempDir(), "missing.wasm"), "no such file"},
	}
	for _, tc := range cases {
		_, err := h.Load(context.Background(), tc.path, 1<<20)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Base(tc.path)) {
			t.Errorf("Load(%s) err = %v, want it to name the file and say %q", filepath.Base(tc.path), err, tc.want)
		}
	}
}

func TestLoadCompilesOnce(t *testing.T) {
	h := newHost(t, Options{})
	path := buildWAT(t, "hello")
	var wg sync.WaitGroup
	plugins := make([]*Plugin, 8)
	for i := range plugins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := h.Load(context.Background(), path, 1<<20)
			if err != nil {
				t.Error(err)
			}
			plugins[i] = p
		}()
	}
	wg.Wait()
	for _, p := range plugins[1:] {
		if p != plugins[0] {
			t.Fatal("concurrent loads of one file gave different plugins: compiled more than once")
		}
	}
}

func TestSandboxKeySeparatesGrants(t *testing.T) {
	a := Sandbox{Mounts: map[string]string{"/a": "/x"}}
	b := Sandbox{Mounts: map[string]string{"/a": "/y"}}
	if a.key() == b.key() || a.key() == (Sandbox{}).key() {
		t.Error("different grants share a pool key")
	}
}

func TestCanceledRunStopsPromptly(t *testing.T) {
	h := newHost(t, Options{})
	p, err := h.Load(context.Background(), buildWAT(t, "misbehave"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	canceled := make(chan time.Time, 1)
	time.AfterFunc(100*time.Millisecond, func() {
		canceled <- time.Now()
		cancel()
	})
	_, err = p.Run(ctx, Request{Config: []byte("l")})
	returned := time.Now()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// The spinning guest leaves at its next budget check, microseconds
	// away; the second allows for a loaded machine (and the race detector).
	if took := returned.Sub(<-canceled); took > time.Second {
		t.Errorf("the run returned %v after its context was canceled", took)
	}
}

func TestSandboxGrantsOnlyWhatIsConfigured(t *testing.T) {
	testenv.RequireBinary(t, "go")
	wasm := testenv.BuildGo(t, "sandbox.wasm", "./agent/wasmhost/testdata/sandbox", "GOOS=wasip1", "GOARCH=wasm")
	h := newHost(t, Options{})
	p, err := h.Load(context.Background(), wasm, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.prom"), []byte("granted"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s3cret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AGENT_ONLY", "leak")
	cfg := `[
	 {"op":"read","path":"/data/in.prom"},
	 {"op":"write","path":"/data/new"},
	 {"op":"read","path":"/data/../../` + outside + `/secret"},
	 {"op":"read","path":"` + filepath.Join(outside, "secret") + `"},
	 {"op":"read","path":"/data/escape"},
	 {"op":"read","path":"/etc/passwd"},
	 {"op":"env","path":"GRANTED"},
	 {"op":"env","path":"AGENT_ONLY"}
	]`
	out, err := p.Run(context.Background(), Request{
		Config:  []byte(cfg),
		Sandbox: Sandbox{Mounts: map[string]string{"/data": dir}, Env: map[string]string{"GRANTED": "yes"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`sandbox_probe{i="0",op="read",detail="granted"} 1`,
		`sandbox_probe{i="1",op="write",detail=""} 0`,
		`sandbox_probe{i="2",op="read",detail=""} 0`,
		`sandbox_probe{i="3",op="read",detail=""} 0`,
		`sandbox_probe{i="4",op="read",detail=""} 0`,
		`sandbox_probe{i="5",op="read",detail=""} 0`,
		`sandbox_probe{i="6",op="env",detail="1:yes"} 1`,
		`sandbox_probe{i="7",op="env",detail="1:"} 1`,
	}
	for _, w := range want {
		if !strings.Contains(string(out), w+"\n") {
			t.Errorf("missing %s in output:\n%s", w, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
		t.Error("plugin wrote into a read-only mount")
	}
}

// A Go SDK plugin built without -buildmode=c-shared exports both _start and
// pushagent_collect; it must run as a command (its runtime only starts in
// _start), and the c-shared build as a warm reactor.
func TestGoSDKPluginBothForms(t *testing.T) {
	wasm := []string{"GOOS=wasip1", "GOARCH=wasm"}
	command := testenv.BuildGo(t, "example-command.wasm", "github.com/pushagent/pushagent/sdk/internal/example", wasm...)
	reactor := testenv.BuildGoArgs(t, "example-reactor.wasm", "github.com/pushagent/pushagent/sdk/internal/example", []string{"-buildmode=c-shared"}, wasm...)
	h := newHost(t, Options{})
	for _, tc := range []struct {
		path     string
		form     moduleForm
		lastRuns string
	}{
		{command, commandForm, "example_runs_total 1\n"},
		{reactor, reactorForm, "example_runs_total 3\n"},
	} {
		p, err := h.Load(context.Background(), tc.path, 32<<20)
		if err != nil {
			t.Fatal(err)
		}
		if p.form != tc.form {
			t.Fatalf("%s: form %v, want %v", filepath.Base(tc.path), p.form, tc.form)
		}
		var out []byte
		for i := 0; i < 3; i++ {
			out, err = p.Run(context.Background(), Request{Config: []byte(`{"greeting":"hi","value":2}`)})
			if err != nil {
				t.Fatalf("%s run %d: %v", tc.form, i, err)
			}
		}
		if !strings.Contains(string(out), `example_value{greeting="hi"} 2`) || !strings.Contains(string(out), tc.lastRuns) {
			t.Errorf("%s output:\n%s", tc.form, out)
		}
		// A failed run of a Go plugin fails the run, not the instance. Its
		// error carries the plugin's own reason, and the SDK's ERROR record
		// is not logged besides: the agent logs the error, once.
		var logs testenv.Logs
		_, err = p.Run(context.Background(), Request{Config: []byte(`{"fail":true}`), Logger: logs.Logger()})
		if err == nil || !strings.Contains(err.Error(), "the plugin reported failure: collect failed: failing as configured") || !strings.Contains(err.Error(), "plugin "+tc.path+": ") {
			t.Errorf("%s: a failing collect: err = %v", tc.form, err)
		}
		if l := logs.Take(); strings.Contains(l, "failing as configured") {
			t.Errorf("%s: the failure is logged by the plugin host besides the run's error:\n%s", tc.form, l)
		}
		// A stray fmt.Println in collect is logged, not mixed into the
		// exposition, so the run still succeeds.
		out, err = p.Run(context.Background(), Request{Config: []byte(`{"print":true}`), Logger: logs.Logger()})
		if err != nil || !strings.HasPrefix(string(out), "# HELP ") || strings.Contains(string(out), "debug:") {
			t.Errorf("%s: a collect that prints: err %v, output:\n%s", tc.form, err, out)
		}
		if l := logs.Take(); !strings.Contains(l, `msg="plugin stderr" line="debug: collect called"`) {
			t.Errorf("%s: the print is not logged:\n%s", tc.form, l)
		}
		// A path no mount grants: the runtime's jargon (Go: "Bad file
		// number") comes with a hint naming the collector's mounts.
		for _, mounts := range []map[string]string{nil, {"/data": t.TempDir()}} {
			_, err = p.Run(context.Background(), Request{Config: []byte(`{"read":"/etc/passwd"}`), Sandbox: Sandbox{Mounts: mounts}})
			want := "its collector has no mounts"
			if mounts != nil {
				want = "outside its collector's mounts, which grant only /data"
			}
			if err == nil || !strings.Contains(err.Error(), "Bad file number") || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: reading an unmounted path with mounts %v: err = %v", tc.form, mounts, err)
			}
		}
	}
}

// Many concurrent runs of one reactor never create more instances than the
// pool allows: they wait for a free one and reuse it.
func TestReactorInstancesAreBounded(t *testing.T) {
	h := newHost(t, Options{MaxInstances: 2})
	p, err := h.Load(context.Background(), buildWAT(t, "reactor"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Run(context.Background(), Request{Config: []byte("x")}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := p.Created(); n < 1 || n > 2 {
		t.Errorf("40 concurrent runs created %d instances, want at most 2", n)
	}
	// A run that cannot get an instance before its deadline says so.
	pl := p.pool(Sandbox{}.key())
	pl.slots <- struct{}{}
	pl.slots <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = p.Run(ctx, Request{Config: []byte("x")})
	<-pl.slots
	<-pl.slots
	if err == nil || !strings.Contains(err.Error(), "waiting for a free instance (2 in use)") {
		t.Errorf("err = %v", err)
	}
}

// TestPoolKeepsWhatRecentConcurrencyNeeds: a pool keeps as many idle
// instances as the most calls it saw at once in the current or the previous
// window, so a burst does not pin its instances forever and jobs that never
// overlap keep one instance warm.
func TestPoolKeepsWhatRecentConcurrencyNeeds(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	pl := &pool{window: now}
	burst := func(n int) (closed int) {
		taken := make([]*instance, n)
		for i := range taken {
			if taken[i] = pl.take(now); taken[i] == nil {
				taken[i] = &instance{}
			}
		}
		for _, in := range taken {
			closed += len(pl.give(now, in))
		}
		return closed
	}
	steps := []struct {
		name     string
		advance  time.Duration
		calls    int
		wantIdle int
	}{
		{"a burst of 3 keeps 3", 0, 3, 3},
		{"one call in the same window keeps 3", 10 * time.Second, 1, 3},
		{"the next window remembers the burst", poolWindow, 1, 3},
		{"a window after that forgets it", poolWindow, 1, 1},
		{"a long pause keeps one", 10 * poolWindow, 1, 1},
		{"a new burst grows the pool again", time.Second, 4, 4},
	}
	for _, st := range steps {
		now = now.Add(st.advance)
		burst(st.calls)
		if got := len(pl.idle); got != st.wantIdle || pl.inUse != 0 {
			t.Errorf("%s: idle %d, in use %d; want idle %d, in use 0", st.name, got, pl.inUse, st.wantIdle)
		}
	}
}
