package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/agent/config"
)

// The figures docs/config.md gives for how long collectors may run per
// interval, and validate's warning when a timeout cannot fit.
func TestCollectorsLeaveThePushItsShare(t *testing.T) {
	for _, tc := range []struct {
		every, gatewayTimeout, want time.Duration
	}{
		{10 * time.Second, 10 * time.Second, 7312500 * time.Microsecond},
		{5 * time.Second, 10 * time.Second, 3562500 * time.Microsecond},
		{time.Second, 10 * time.Second, 675 * time.Millisecond},
		// A short gateway timeout bounds the push's share.
		{time.Minute, time.Second, time.Minute - 250*time.Millisecond - time.Second},
	} {
		run := runLength(tc.every)
		if got := run - pushReserve(run, tc.gatewayTimeout); got != tc.want {
			t.Errorf("every %v, gateway timeout %v: collectors get %v, want %v", tc.every, tc.gatewayTimeout, got, tc.want)
		}
	}

	cfg := &config.Config{Gateway: config.Gateway{Timeout: 10 * time.Second}, Jobs: []config.Job{
		{Name: "fits", Every: 10 * time.Second, Collectors: []config.Collector{{Name: "a", Timeout: 5 * time.Second}}},
		{Name: "node", Every: 5 * time.Second, Collectors: []config.Collector{{Name: "ok", Timeout: 3 * time.Second, TimeoutSetAt: "defaults.timeout"}, {Name: "slow", Timeout: 5 * time.Second, TimeoutSetAt: "defaults.timeout"}}},
		// The built-in default is lowered, not warned about.
		{Name: "default", Every: 5 * time.Second, Collectors: []config.Collector{{Name: "c", Timeout: 5 * time.Second}}},
		{Name: "cron", Cron: "* * * * *", Collectors: []config.Collector{{Name: "b", Timeout: time.Hour}}},
	}}
	warnings := TimeoutWarnings(cfg)
	if len(warnings) != 1 {
		t.Fatalf("warnings %q, want one for node/slow", warnings)
	}
	// docs/config.md shows this very warning as validate prints it.
	doc, err := os.ReadFile(filepath.Join("..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "  warning: " + warnings[0] + "\n"; !strings.Contains(string(doc), want) {
		t.Errorf("docs/config.md does not show the warning validate prints:\n%s", want)
	}
}

// A job with only every: 5s gets collectors whose built-in default timeout
// (5s) is lowered to the largest that fits; a timeout the config sets is
// kept (and warned about).
func TestDefaultTimeoutLoweredToFit(t *testing.T) {
	cfg := &config.Config{Gateway: config.Gateway{Timeout: 10 * time.Second}, Jobs: []config.Job{
		{Name: "short", Every: 5 * time.Second, Collectors: []config.Collector{
			{Name: "default", Timeout: 5 * time.Second},
			{Name: "set", Timeout: 5 * time.Second, TimeoutSetAt: "defaults.timeout"},
			{Name: "small", Timeout: 2 * time.Second, TimeoutSetAt: "jobs[0].collectors[2].timeout"},
		}},
		{Name: "long", Every: time.Minute, Collectors: []config.Collector{{Name: "default", Timeout: 5 * time.Second}}},
		{Name: "cron", Cron: "* * * * *", Collectors: []config.Collector{{Name: "default", Timeout: 5 * time.Second}}},
	}}
	for _, tc := range []struct {
		job  int
		want []time.Duration
	}{
		{0, []time.Duration{3500 * time.Millisecond, 5 * time.Second, 2 * time.Second}},
		{1, []time.Duration{5 * time.Second}},
		{2, []time.Duration{5 * time.Second}},
	} {
		j := fitTimeouts(cfg, cfg.Jobs[tc.job])
		for i, c := range j.Collectors {
			if c.Timeout != tc.want[i] {
				t.Errorf("job %q collector %q: timeout %v, want %v", j.Name, c.Name, c.Timeout, tc.want[i])
			}
		}
	}
	if cfg.Jobs[0].Collectors[0].Timeout != 5*time.Second {
		t.Error("fitTimeouts changed the config it was given")
	}
	if w := TimeoutWarnings(cfg); len(w) != 1 || !strings.Contains(w[0], `collector "set": timeout 5s (set at defaults.timeout) does not fit every 5s`) {
		t.Errorf("warnings %q, want one, for the timeout defaults.timeout sets", w)
	}
}

// The agent runs its collectors with the lowered default: a collector stuck
// in a loop under a job every 1s is stopped at 600 ms, not at 5s.
func TestAgentRunsWithTheLoweredDefault(t *testing.T) {
	bad := wat(t, "misbehave")
	loops := testCollector("loops", bad, `"loop"`)
	loops.Timeout, loops.TimeoutSetAt = 5*time.Second, ""
	cfg := &config.Config{
		Gateway: config.Gateway{URL: "http://127.0.0.1:1", Timeout: time.Second},
		Jobs:    []config.Job{{Name: "j", Every: time.Second, Method: "put", Collectors: []config.Collector{loops}}},
	}
	a := newAgent(t, cfg, Options{})
	if got := a.cur.Load().job("j").cfg.Collectors[0].Timeout; got != 600*time.Millisecond {
		t.Errorf("the agent runs the collector with timeout %v, want the default lowered to 600ms", got)
	}
	c, err := a.Collect(context.Background(), "j")
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Statuses[0]; st.Success || !errors.Is(st.Err, context.DeadlineExceeded) && !strings.Contains(st.Err.Error(), "timed out") {
		t.Errorf("the looping collector: success %v, err %v; want a timeout", st.Success, st.Err)
	}
}
