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

// TestOTLPSurvivesOutageAndKill9 is TestRemoteWriteSurvivesOutageAndKill9
// for an otlp output to VictoriaMetrics' OTLP endpoint: every run the
// agent logged as buffered arrives once the receiver is back, across a
// kill -9 of the agent in the middle of the outage, none twice (one more
// for the kill at most: a run buffered but not yet logged).
func TestOTLPSurvivesOutageAndKill9(t *testing.T) {
	art := build(t)
	vm := testenv.StartVictoriaMetricsOTLP(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
outputs:
  otel:
    otlp:
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
`, vm.OTLPURL, art.watHello)
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
			if strings.Contains(l, "msg=buffered") && strings.Contains(l, "output=otel") {
				n++
			}
		}
		return n
	}
	count := func() int {
		s := vm.Query(t, `count_over_time(wat_hello{service_name="outage",service_instance_id="e2e"}[10m])`)
		if len(s) != 1 {
			return 0
		}
		return int(s[0].Value)
	}
	first := start()
	testenv.Eventually(t, 30*time.Second, "runs delivered before the outage", func() bool { return buffered(first) >= 3 })
	vm.Stop()
	time.Sleep(10 * time.Second)
	if err := first.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown code runs
		t.Fatal(err)
	}
	first.done <- <-first.done // reaped; the cleanup reads it again
	second := start()
	time.Sleep(10 * time.Second)
	vm.Restart()
	// Every run logged as buffered arrives: checked while the agent runs,
	// since a run buffered in the instant before a stop stays in the
	// buffer for the next start.
	testenv.Eventually(t, 60*time.Second, "every buffered run delivered", func() bool {
		return strings.Contains(second.log(), "msg=buffered") && count() >= buffered(first)+buffered(second)
	})
	second.stop(t)
	runs := buffered(first) + buffered(second)
	time.Sleep(2 * time.Second)
	if got := count(); got > runs+1 {
		t.Errorf("the receiver holds %d samples of %d runs logged as buffered (want at most one more, for the kill: none twice)", got, runs)
	}
	got := count()
	if runs < 15 {
		t.Errorf("only %d runs in about 25s of collecting every second", runs)
	}
	t.Logf("%d runs buffered, %d samples delivered", runs, got)
}
