package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/agent/config"

	"github.com/pushagent/pushagent/internal/testenv"
)

func TestStatusAndReadiness(t *testing.T) {
	hello, bad := wat(t, "hello"), wat(t, "misbehave")
	cfg := &config.Config{
		// Nothing listens on port 1: every push fails.
		Gateway: config.Gateway{URL: "http://127.0.0.1:1", Timeout: 200 * time.Millisecond},
		Jobs: []config.Job{{
			Name: "j", Every: time.Second, Jitter: 10 * time.Millisecond, Method: "put", Grouping: map[string]string{"instance": "x"},
			Collectors: []config.Collector{testCollector("ok", hello, "1"), testCollector("traps", bad, `"trap"`)},
		}},
	}
	a := newAgent(t, cfg, Options{})
	if ok, reasons := a.Ready(time.Minute); ok || !strings.Contains(reasons[0], "not running") {
		t.Errorf("ready before Run: %v %v", ok, reasons)
	}
	st := a.Status()[0]
	if st.Schedule != "every 1s ±10ms" || st.Runs != 0 || st.Collectors[0].Ran {
		t.Errorf("status before any run = %+v", st)
	}
	stop := start(t, a)
	testenv.Eventually(t, 15*time.Second, "a finished run", func() bool { return !a.Status()[0].LastRun.IsZero() })
	st = a.Status()[0]
	if p := st.Outputs; len(p) != 1 || p[0].Output != "gateway" || p[0].OK || !strings.Contains(p[0].Error, "127.0.0.1:1") || p[0].FailingSince.IsZero() || st.NextRun.IsZero() {
		t.Errorf("failing job status = %+v", st)
	}
	if c := st.Collectors; !c[0].Success || c[0].Samples != 1 || c[1].Success || !strings.Contains(c[1].Error, "unreachable") {
		t.Errorf("collector statuses = %+v", c)
	}
	if ok, _ := a.Ready(time.Hour); !ok {
		t.Error("not ready although pushes fail for less than the bound")
	}
	if ok, reasons := a.Ready(0); ok || !strings.Contains(reasons[0], `job "j" output "gateway": pushes failing for`) {
		t.Errorf("ready although pushes fail past the bound: %v", reasons)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
