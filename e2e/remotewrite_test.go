package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
)

// TestRemoteWriteSurvivesOutageAndKill9: VictoriaMetrics is down for 30s
// while the agent collects every second, and the agent is killed with
// SIGKILL and started again in the middle of the outage. Once the receiver
// is back, every run the agent logged as buffered is in it, at most one
// more per kill (a run buffered in the instant before the kill, not yet
// logged), and none is stored twice.
func TestRemoteWriteSurvivesOutageAndKill9(t *testing.T) {
	art := build(t)
	vm := testenv.StartVictoriaMetrics(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
outputs:
  tsdb:
    remote_write:
      url: %s
      timeout: 2s
      buffer: {dir: buffer}
jobs:
  - name: outage
    every: 1s
    grouping: {instance: e2e}
    collectors:
      - name: hello
        plugin: %s
        timeout: 500ms
`, vm.WriteURL, art.watHello)
	path := filepath.Join(dir, "schedules.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func() *agentProc {
		return startAgent(t, art.agent, nil, "run", "--config", path, "--cache-dir", "", "--listen", testenv.FreeAddr(t))
	}
	buffered := func(a *agentProc) int {
		n := 0
		for _, l := range strings.Split(a.log(), "\n") {
			if strings.Contains(l, "msg=buffered") && strings.Contains(l, "output=tsdb") {
				n++
			}
		}
		return n
	}
	first := start()
	testenv.Eventually(t, 30*time.Second, "runs delivered before the outage", func() bool { return buffered(first) >= 3 })
	vm.Stop() // a SIGKILL would make it lose what it accepted last
	time.Sleep(15 * time.Second)
	if err := first.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown code runs
		t.Fatal(err)
	}
	first.done <- <-first.done // reaped; the cleanup reads it again
	second := start()
	time.Sleep(15 * time.Second)
	vm.Restart()
	testenv.Eventually(t, 60*time.Second, "the buffer delivered", func() bool {
		return strings.Contains(second.log(), "msg=sent output=tsdb") && sampleCount(t, vm) >= buffered(first)+buffered(second)-2
	})
	second.stop(t)
	runs := buffered(first) + buffered(second)
	time.Sleep(2 * time.Second)
	got := sampleCount(t, vm)
	if got < runs || got > runs+1 {
		t.Errorf("the receiver holds %d samples of %d runs logged as buffered (want all of them, at most one more for the kill)", got, runs)
	}
	if runs < 25 {
		t.Errorf("only %d runs in about 40s of collecting every second", runs)
	}
	t.Logf("%d runs buffered, %d samples delivered", runs, got)
}

func sampleCount(t *testing.T, vm *testenv.VictoriaMetrics) int {
	s := vm.Query(t, `count_over_time(wat_hello{job="outage",instance="e2e"}[10m])`)
	if len(s) != 1 {
		return 0
	}
	return int(s[0].Value)
}
