package linmem

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
)

// The child process of TestReportRSS reads its case and module from these.
const (
	rssCaseEnv = "LINMEM_RSS_CASE"
	rssWasmEnv = "LINMEM_RSS_WASM"
	rssPrefix  = "linmem-rss: "
)

type rssCase struct {
	Allocator string // "default" or "linmem"
	Pages     uint32 // the runtime's limit, which the guest grows to
	Step      uint32 // pages per memory.grow
}

// rssResult is what a child reports, in bytes above its RSS just before the
// instance was made.
type rssResult struct {
	Peak      int64 // VmHWM while growing (reset first, when allowed)
	Closed    int64 // VmRSS once the module is closed
	Collected int64 // VmRSS after a GC and debug.FreeOSMemory
	HWMReset  bool  // false: Peak is the process's peak since it started
}

// TestReportRSS reports, without asserting anything, the peak RSS that one
// instance growing to a memory limit adds, with wazero's default allocator
// and with this package's. Each case runs in a fresh process (this test
// binary, re-executed) so that neither the Go heap nor the peak of one
// case leaks into another. Run it without -race for figures that mean
// anything: the race detector shadows Go heap memory, not mappings.
//
//	go test -run TestReportRSS -v ./agent/wasmhost/internal/linmem
func TestReportRSS(t *testing.T) {
	if spec := os.Getenv(rssCaseEnv); spec != "" {
		rssChild(t, spec)
		return
	}
	if testing.Short() {
		t.Skip("a report, not a check, that runs a process per case")
	}
	wasm := filepath.Join(t.TempDir(), "grow.wasm")
	if err := os.WriteFile(wasm, testdataWasm(t, "grow"), 0o600); err != nil {
		t.Fatal(err)
	}
	limits := []uint32{512, 2048} // 32 and 128 MiB
	if raceEnabled() {
		// The 128 MiB default case alone would take over a GiB.
		limits = limits[:1]
		t.Log("NOTE: built with -race, so only 32 MiB, and the default allocator's figures include the race detector's shadow of the Go heap")
	}
	t.Logf("%-8s %9s %10s %12s %12s %14s", "alloc", "limit", "step", "peak", "after close", "after GC")
	for _, pages := range limits {
		for _, step := range []uint32{1, 16} {
			for _, alloc := range []string{"default", "linmem"} {
				c := rssCase{Allocator: alloc, Pages: pages, Step: step}
				spec, _ := json.Marshal(c)
				cmd := exec.Command(os.Args[0], "-test.run=^TestReportRSS$", "-test.count=1")
				cmd.Env = append(os.Environ(), rssCaseEnv+"="+string(spec), rssWasmEnv+"="+wasm)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%+v: %v\n%s", c, err, out)
				}
				var res rssResult
				if err := parseRSS(out, &res); err != nil {
					t.Fatalf("%+v: %v\n%s", c, err, out)
				}
				note := ""
				if !res.HWMReset {
					note = " (peak since process start)"
				}
				t.Logf("%-8s %6d MiB %5d KiB %8.1f MiB %8.1f MiB %10.1f MiB%s", alloc, pages/16, step*64,
					mibs(res.Peak), mibs(res.Closed), mibs(res.Collected), note)
			}
		}
	}
}

func parseRSS(out []byte, res *rssResult) error {
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(line, rssPrefix); ok {
			return json.Unmarshal([]byte(rest), res)
		}
	}
	return fmt.Errorf("linmem: no %q line in the child's output", rssPrefix)
}

func mibs(b int64) float64 { return float64(b) / (1 << 20) }

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// rssChild runs one case and prints its result on a line of its own.
func rssChild(t *testing.T, spec string) {
	var c rssCase
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(os.Getenv(rssWasmEnv))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithMemoryLimitPages(c.Pages))
	defer r.Close(ctx)
	compiled, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	instCtx := ctx
	if c.Allocator == "linmem" {
		instCtx = experimental.WithMemoryAllocator(ctx, New())
	}

	runtime.GC()
	debug.FreeOSMemory()
	base := procStatus(t, "VmRSS")
	// Writing 5 to clear_refs resets VmHWM to the current RSS.
	reset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil

	mod, err := r.InstantiateModule(instCtx, compiled, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	res, err := mod.ExportedFunction("grow_to").Call(ctx, uint64(c.Pages), uint64(c.Step))
	if err != nil || uint32(res[0]) != c.Pages {
		t.Fatalf("grow_to(%d, %d) = %v, %v", c.Pages, c.Step, res, err)
	}
	peak := procStatus(t, "VmHWM")
	if err := mod.Close(ctx); err != nil {
		t.Fatal(err)
	}
	closed := procStatus(t, "VmRSS")
	runtime.GC()
	debug.FreeOSMemory()
	collected := procStatus(t, "VmRSS")

	out, _ := json.Marshal(rssResult{
		Peak: peak - base, Closed: closed - base, Collected: collected - base, HWMReset: reset,
	})
	fmt.Printf("\n%s%s\n", rssPrefix, out)
}

// procStatus returns a "kB" field of /proc/self/status, in bytes.
func procStatus(t *testing.T, key string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("/proc/self/status %s: %v", key, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("/proc/self/status has no %s", key)
	return 0
}
