package e2e

// A plugin that sleeps far past its timeout (C's sleep, WASI poll_oneoff)
// is stopped at its timeout by the real binary: `once` returns, every run of
// its job under `run` pushes the other collector, and SIGTERM during such a
// run ends within the shutdown grace.

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
)

func TestSleepingPluginStoppedByTheBinary(t *testing.T) {
	agent, dir, sleeper, good, gw := sleepFixture(t)
	// The case: a job every 3s whose sleeping collector has a 1s
	// timeout, next to a collector that works.
	cfg := filepath.Join(dir, "schedules.yaml")
	writeFile(t, cfg, fmt.Sprintf(`gateway:
  url: %s
defaults:
  grouping: {instance: sleepy}
jobs:
  - name: sleepy
    every: 3s
    collectors:
      - {name: good, plugin: %s}
      - {name: sleeper, plugin: %s, timeout: 1s}
`, gw.URL, good, sleeper))
	cache := filepath.Join(dir, "cache")
	if b, err := exec.Command(agent, "validate", "--config", cfg, "--cache-dir", cache).CombinedOutput(); err != nil {
		t.Fatalf("validate: %v\n%s", err, b)
	}

	t.Run("once", func(t *testing.T) {
		start := time.Now()
		out, err := exec.Command(agent, "once", "--config", cfg, "--cache-dir", cache).CombinedOutput()
		took := time.Since(start)
		// once exits non-zero when a collector failed; what matters is
		// that it returns, and says why the sleeper failed.
		t.Logf("once took %v (exit: %v)", took.Round(time.Millisecond), err)
		if took > 3*time.Second {
			t.Errorf("once took %v with a 1s collector timeout; before the fix it waited out the 120 s sleep", took)
		}
		if !strings.Contains(string(out), "timed out") || !strings.Contains(string(out), "hostile_good 1") {
			t.Errorf("once output lacks the sleeper's timeout or the good collector's series:\n%s", out)
		}
	})

	t.Run("run", func(t *testing.T) {
		listen := testenv.FreeAddr(t)
		a := startAgent(t, agent, nil, "run", "--config", cfg, "--cache-dir", cache, "--listen", listen, "--shutdown-grace", "2s")
		// Runs at about 0, 3, 6, 9 and 12 s: every one must push.
		time.Sleep(13 * time.Second)
		runs, pushes := runsAndPushes(t, listen, "sleepy")
		t.Logf("runs %v, pushes %v in 13 s", runs, pushes)
		if runs < 4 || pushes < runs-1 {
			t.Errorf("runs %v, pushes %v in 13 s at every: 3s: the sleeping collector held its job", runs, pushes)
		}
		if m := gw.Metrics(t); !strings.Contains(m, `hostile_good{instance="sleepy",job="sleepy"} 1`) {
			t.Errorf("the good collector's series is not at the gateway:\n%s", m)
		}
		// SIGTERM lands in a run whose sleeper is mid-sleep (each run
		// sleeps its whole first second): the agent exits within the
		// grace, not after the sleep.
		start := time.Now()
		a.stop(t)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("the agent took %v to stop after SIGTERM with --shutdown-grace 2s", took)
		}
	})
}

// TestStuckCollectorLeavesRoomForThePush is issue 9's first bug: a job
// every 2s whose stuck collector has a timeout of 5s. The
// collectors and the push shared the run's deadline, so the push always
// failed with "context deadline exceeded" (0 pushes). Now collectors are
// stopped early enough for the push, and validate says the timeout cannot
// fit.
func TestStuckCollectorLeavesRoomForThePush(t *testing.T) {
	agent, dir, sleeper, good, gw := sleepFixture(t)
	cfg := filepath.Join(dir, "schedules.yaml")
	writeFile(t, cfg, fmt.Sprintf(`gateway:
  url: %s
defaults:
  grouping: {instance: stuck}
jobs:
  - name: stuck
    every: 2s
    collectors:
      - {name: good, plugin: %s}
      - {name: sleeper, plugin: %s, timeout: 5s}
`, gw.URL, good, sleeper))
	cache := filepath.Join(dir, "cache")
	out, err := exec.Command(agent, "validate", "--config", cfg, "--cache-dir", cache).CombinedOutput()
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	// The timeout is set: the built-in default would be lowered instead.
	if !strings.Contains(string(out), `collector "sleeper": timeout 5s (set at jobs[0].collectors[1].timeout) does not fit`) {
		t.Errorf("validate does not say that the 5s timeout cannot fit a job every 2s:\n%s", out)
	}

	listen := testenv.FreeAddr(t)
	a := startAgent(t, agent, nil, "run", "--config", cfg, "--cache-dir", cache, "--listen", listen, "--shutdown-grace", "2s")
	defer a.stop(t)
	// Runs at about 0, 2, 4 and 6 s: each must push the good collector.
	time.Sleep(7 * time.Second)
	runs, pushes := runsAndPushes(t, listen, "stuck")
	t.Logf("runs %v, successful pushes %v in 7 s", runs, pushes)
	if runs < 3 || pushes < runs-1 {
		t.Errorf("runs %v, pushes %v in 7 s at every: 2s: the stuck collector starved the push", runs, pushes)
	}
	if m := gw.Metrics(t); !strings.Contains(m, `hostile_good{instance="stuck",job="stuck"} 1`) {
		t.Errorf("the good collector's series is not at the gateway:\n%s", m)
	}
	// The sleeper's failure says why it was stopped before its timeout.
	if log := a.log(); !strings.Contains(log, "timed out: context deadline exceeded: the run stops its collectors after") {
		t.Errorf("the log does not say why the sleeper was stopped before its timeout:\n%s", log)
	}
}

// sleepFixture builds what the sleep tests run: the agent binary, the C
// plugin that sleeps for 120 s, a WAT collector that works, and a real
// Pushgateway, in dir.
func sleepFixture(t *testing.T) (agent, dir, sleeper, good string, gw *testenv.Pushgateway) {
	t.Helper()
	clang := testenv.RequireBinary(t, "clang")
	testenv.RequireFile(t, "wasi-libc", "/usr/lib/wasm32-wasi/libc.a")
	testenv.RequireFile(t, "libclang-rt-14-dev-wasm32", "/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a")
	wat2wasm := testenv.RequireBinary(t, "wat2wasm")
	agent = testenv.BuildGo(t, "pushagent", "./cmd/pushagent")
	dir = t.TempDir()
	sleeper = filepath.Join(dir, "sleep-c.wasm")
	if b, err := exec.Command(clang, "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-o", sleeper,
		filepath.Join("..", "agent", "testdata", "sleep", "sleep.c")).CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, b)
	}
	good = filepath.Join(dir, "good.wasm")
	if b, err := exec.Command(wat2wasm, filepath.Join("..", "agent", "testdata", "hostile", "good.wat"), "-o", good).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	gw = testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	return agent, dir, sleeper, good, gw
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// scrapeCounter reads one sample's value from a /metrics page, 0 if absent.
func scrapeCounter(t *testing.T, url, series string) float64 {
	t.Helper()
	return scrapeSum(t, url, series+" ")
}

// scrapeSum adds the values of the samples on a /metrics page whose line
// starts with prefix, 0 if there is none.
func scrapeSum(t *testing.T, url, prefix string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		sum += f
	}
	return sum
}

// runsAndPushes reads, from the agent's /metrics at listen, how many runs
// job started and how many of its pushes to the gateway succeeded.
func runsAndPushes(t *testing.T, listen, job string) (runs, pushes float64) {
	t.Helper()
	url := "http://" + listen + "/metrics"
	runs = scrapeCounter(t, url, `pushagent_job_runs_total{job="`+job+`"}`)
	pushes = scrapeCounter(t, url, `pushagent_pushes_total{job="`+job+`",output="gateway"}`) -
		scrapeSum(t, url, `pushagent_push_failures_total{job="`+job+`",`)
	return runs, pushes
}
