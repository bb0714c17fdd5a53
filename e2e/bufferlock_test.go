package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
)

// TestSecondAgentOnOneBufferIsRefused: two agents given one buffer
// directory (docker compose --scale with one named volume) used to share
// it and lose one agent's runs. The second agent now refuses to start,
// saying which directory and what to do, while the first keeps delivering
// every run; once the first is killed with SIGKILL, the kernel has dropped
// its lock and a new agent takes the directory over and sends the rest.
func TestSecondAgentOnOneBufferIsRefused(t *testing.T) {
	art := build(t)
	vm := testenv.StartVictoriaMetrics(t)
	dir := t.TempDir()
	buffer := filepath.Join(dir, "shared-volume")
	path := filepath.Join(dir, "schedules.yaml")
	cfg := fmt.Sprintf(`
outputs:
  tsdb:
    remote_write:
      url: %s
      timeout: 2s
      buffer: {dir: %s}
jobs:
  - name: lock
    every: 1s
    grouping: {instance: e2e}
    collectors:
      - name: hello
        plugin: %s
        timeout: 500ms
`, vm.WriteURL, buffer, art.watHello)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--config", path, "--cache-dir", ""}
	first := startAgent(t, art.agent, nil, args...)
	testenv.Eventually(t, 30*time.Second, "the first agent sending", func() bool {
		return strings.Contains(first.log(), "msg=sent output=tsdb")
	})

	// An agent that starts runs until killed: 30s is far more than
	// loading a WAT plugin and opening the buffer take.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, art.agent, args...).CombinedOutput()
	var exit *exec.ExitError
	if ctx.Err() != nil {
		t.Fatalf("the second agent on %s started and ran, sharing the first one's buffer:\n%s", buffer, out)
	}
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("the second agent on %s: %v, want exit code 2\n%s", buffer, err, out)
	}
	for _, want := range []string{path, `output "tsdb"`, buffer, "locked by another pushagent", "a volume per replica", "${HOSTNAME}"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the second agent's error lacks %q:\n%s", want, out)
		}
	}

	runs := func(a *agentProc) int { return strings.Count(a.log(), "msg=buffered job=lock output=tsdb") }
	testenv.Eventually(t, 30*time.Second, "a few more runs of the first agent", func() bool { return runs(first) >= 5 })
	if err := first.cmd.Process.Kill(); err != nil { // SIGKILL: the lock is never released by the agent
		t.Fatal(err)
	}
	first.done <- <-first.done
	third := startAgent(t, art.agent, nil, args...)
	testenv.Eventually(t, 30*time.Second, "the next agent sending", func() bool {
		return strings.Contains(third.log(), "msg=sent output=tsdb")
	})
	third.stop(t)
	want := runs(first) + runs(third)
	var got int
	testenv.Eventually(t, 20*time.Second, "every buffered run stored", func() bool {
		s := vm.Query(t, `count_over_time(wat_hello{job="lock",instance="e2e"}[10m])`)
		got = 0
		if len(s) == 1 {
			got = int(s[0].Value)
		}
		return got >= want
	})
	// One more than logged is a run buffered in the instant before the kill.
	if got > want+1 {
		t.Errorf("VictoriaMetrics holds %d samples of %d runs logged as buffered", got, want)
	}
}
