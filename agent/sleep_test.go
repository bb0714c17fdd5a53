package agent

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

// TestSleepingPluginsStopAtTheirTimeout: a plugin that sleeps far past its
// timeout, in C (sleep) and in Go (time.Sleep, as a reactor and as a
// command), is stopped at its timeout, and every run of its job still
// delivers the neighbouring collector. The WAT form of the same behaviour
// is in the hostile suite (sleep.wat).
func TestSleepingPluginsStopAtTheirTimeout(t *testing.T) {
	f := newHostileFixture(t)
	defer f.close()
	out := t.TempDir()
	clang := testenv.RequireBinary(t, "clang")
	requireSysroot(t)
	csleep := filepath.Join(out, "sleep-c.wasm")
	if b, err := exec.Command(clang, "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-o", csleep,
		filepath.Join("testdata", "sleep", "sleep.c")).CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, b)
	}
	f.plugins["sleep-c"] = csleep
	f.plugins["sleep-go-reactor"] = testenv.BuildGoArgs(t, "gosleep-reactor.wasm", "./agent/testdata/sleep/gosleep",
		[]string{"-buildmode=c-shared"}, "GOOS=wasip1", "GOARCH=wasm")
	f.plugins["sleep-go-command"] = testenv.BuildGo(t, "gosleep-command.wasm", "./agent/testdata/sleep/gosleep", "GOOS=wasip1", "GOARCH=wasm")

	const timeout = time.Second
	cfg := &config.Config{Gateway: config.Gateway{URL: "http://127.0.0.1:1", Timeout: time.Second}}
	names := []string{"sleep-c", "sleep-go-reactor", "sleep-go-command"}
	for _, name := range names {
		job := f.job(hostileCase{name: name, plugin: name, timeout: timeout, memoryLimit: 32 << 20})
		cfg.Jobs = append(cfg.Jobs, job)
	}
	a, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			for run := 1; run <= 3; run++ {
				start := time.Now()
				c, err := a.Collect(context.Background(), name)
				took := time.Since(start)
				if err != nil {
					t.Fatal(err)
				}
				// The bound: stopped within the timeout plus 0.5 s.
				if took > timeout+500*time.Millisecond {
					t.Errorf("run %d took %v; the sleeping collector's timeout is %v", run, took, timeout)
				}
				st := hostileStatus(t, c, hostileBad)
				if st.Success || st.Err == nil {
					t.Fatalf("run %d: the sleeping collector succeeded", run)
				}
				if good := hostileStatus(t, c, hostileGood); !good.Success {
					t.Errorf("run %d: the neighbouring collector failed: %v", run, good.Err)
				}
				if slices.Contains(hostileFamilyNames(families(c)), "hostile_slept") {
					t.Errorf("run %d: the sleeper's output was pushed", run)
				}
				if run == 1 {
					t.Logf("took %v: %v", took.Round(time.Millisecond), st.Err)
				}
			}
		})
	}
}

// requireSysroot needs Debian's wasi-libc, which clang's wasm32-wasi
// target links against.
func requireSysroot(t *testing.T) {
	t.Helper()
	testenv.RequireFile(t, "wasi-libc", "/usr/lib/wasm32-wasi/libc.a")
	testenv.RequireFile(t, "libclang-rt-14-dev-wasm32", "/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a")
}
