package interrupt

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
)

// The environment of the child process that TestGCCompletesWhileGuestRuns
// starts: the module to instrument and run, its export, and the directory
// of the compilation cache that the parent filled.
const (
	childModuleEnv = "PUSHAGENT_INTERRUPT_CHILD_MODULE"
	childExportEnv = "PUSHAGENT_INTERRUPT_CHILD_EXPORT"
	childCacheEnv  = "PUSHAGENT_INTERRUPT_CHILD_CACHE"
)

// The child prints each mark, after childMark, as it passes each phase;
// the parent bounds the time between marks.
const (
	childMark    = "interrupt-child: "
	markReady    = "ready"   // the module is instantiated
	markRunning  = "running" // the guest runs its loop, and the test goroutine got to run too
	markGCDone   = "gc-done" // runtime.GC returned
	markTrapped  = "trapped" // the watchdog set the flag and the guest trapped
	compileWait  = 3 * time.Minute
	phaseWaitGC  = 10 * time.Second
	childExitDue = 30 * time.Second
)

// TestGCCompletesWhileGuestRuns is the regression test for a deadlock:
// compiled wasm code is not Go code, so Go cannot preempt a goroutine
// running it, and a guest spinning without ever leaving compiled code
// stalls a garbage collection's stop-the-world forever, and with it every
// goroutine, the watchdog that would set the flag included. The
// instrumented guest must leave for Go often enough that runtime.GC
// returns, and then stop when the watchdog sets the flag; with
// GOMAXPROCS=1 the scheduler must also get the test goroutine and the
// watchdog onto the one P the guest holds.
//
// A stalled collection cannot be undone, so each case runs in a child
// process (this test binary, this test) that the parent kills when a
// phase overruns its bound.
func TestGCCompletesWhileGuestRuns(t *testing.T) {
	if path := os.Getenv(childModuleEnv); path != "" {
		runGuestUnderGC(t, path, os.Getenv(childExportEnv), os.Getenv(childCacheEnv))
		return
	}
	dir := t.TempDir()
	cacheDir := filepath.Join(dir, "cache")
	modules := map[string][]byte{"runaway": wat(t, "runaway"), "goplugin": goModule(t)}
	cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, childRuntimeConfig().WithCompilationCache(cache))
	for name, bin := range modules {
		if err := os.WriteFile(filepath.Join(dir, name+".wasm"), bin, 0o644); err != nil {
			t.Fatal(err)
		}
		// Compiled here once, so that each child loads the code from the
		// cache instead of compiling a Go module under the race detector.
		if _, err := r.CompileModule(ctx, mustInstrument(t, bin)); err != nil {
			t.Fatal(err)
		}
	}
	_ = r.Close(ctx)
	_ = cache.Close(ctx)

	for _, tc := range []struct{ name, module, export string }{
		{"loop br 0", "runaway", "spin"},
		{"Go for {}", "goplugin", "spin"},
		{"loop of 16 MiB fills", "runaway", "fill_loop"},
	} {
		for _, procs := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/GOMAXPROCS=%d", tc.name, procs), func(t *testing.T) {
				runChild(t, []string{
					childModuleEnv + "=" + filepath.Join(dir, tc.module+".wasm"),
					childExportEnv + "=" + tc.export,
					childCacheEnv + "=" + cacheDir,
					fmt.Sprintf("GOMAXPROCS=%d", procs),
				})
			})
		}
	}
}

func childRuntimeConfig() wazero.RuntimeConfig {
	return wazero.NewRuntimeConfig().WithCloseOnContextDone(false)
}

// runChild runs this test in a child process with env added, and fails
// if the child misses a mark's bound, fails or does not exit.
func runChild(t *testing.T, env []string) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestGCCompletesWhileGuestRuns$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var output []string
	// finish ends the child (killing it if kill is set), reads what is
	// left of its output and waits for it: Wait must follow the reads.
	finish := func(kill bool) error {
		if kill {
			_ = cmd.Process.Kill()
		}
		for line := range lines {
			output = append(output, line)
		}
		return cmd.Wait()
	}
	report := func() string {
		return fmt.Sprintf("child stdout:\n%s\nchild stderr:\n%s", strings.Join(output, "\n"), stderr.String())
	}
	for _, phase := range []struct {
		mark   string
		within time.Duration
	}{
		{markReady, compileWait},
		{markRunning, phaseWaitGC},
		{markGCDone, phaseWaitGC},
		{markTrapped, phaseWaitGC},
	} {
		timer := time.NewTimer(phase.within)
	wait:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					timer.Stop()
					err := finish(false)
					t.Fatalf("child ended (%v) before %q\n%s", err, phase.mark, report())
				}
				output = append(output, line)
				if mark, ok := strings.CutPrefix(line, childMark); ok {
					t.Log(mark)
					if strings.HasPrefix(mark, phase.mark) {
						break wait
					}
				}
			case <-timer.C:
				_ = finish(true)
				t.Fatalf("no %q from the child within %v: killed it\n%s", phase.mark, phase.within, report())
			}
		}
		timer.Stop()
	}
	exited := make(chan error, 1)
	go func() { exited <- finish(false) }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("child: %v\n%s", err, report())
		}
	case <-time.After(childExitDue):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("child did not exit within %v of its guest's trap: killed it\n%s", childExitDue, report())
	}
}

// runGuestUnderGC is the child's side: it runs export of the module at
// path, instrumented, on a goroutine of its own; collects garbage while
// the guest is in its loop; then stops the guest the way the host does.
// It bounds nothing itself: a stalled collection stops every goroutine,
// timers included, so only the parent can tell.
func runGuestUnderGC(t *testing.T, path, export, cacheDir string) {
	mark := func(format string, args ...any) {
		fmt.Printf(childMark+format+"\n", args...)
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	_ = compiled.Close(context.Background())
	compiled = cache // closed by TestMain
	g := instantiateWith(t, mustInstrument(t, bin), childRuntimeConfig())
	flag := g.flag(t)
	mark("%s (GOMAXPROCS=%d)", markReady, runtime.GOMAXPROCS(0))

	done := make(chan error, 1)
	go func() {
		_, err := g.mod.ExportedFunction(export).Call(context.Background())
		done <- err
	}()
	select {
	case <-g.started:
	case err := <-done:
		t.Fatalf("%s returned before it started: %v", export, err)
	}
	mark(markRunning)

	start := time.Now()
	runtime.GC()
	mark("%s in %v", markGCDone, time.Since(start))

	// The watchdog as the host arms it: a goroutine of its own sets the
	// flag once the run's context ends.
	ctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, func() { flag.Set(1) })
	defer stop()
	start = time.Now()
	cancel()
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("%s stopped with %v, want the unreachable trap", export, err)
	}
	mark("%s %v after the context ended", markTrapped, time.Since(start))
}
