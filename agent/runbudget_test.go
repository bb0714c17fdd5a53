package agent

import (
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
		{Name: "node", Every: 5 * time.Second, Collectors: []config.Collector{{Name: "ok", Timeout: 3 * time.Second}, {Name: "slow", Timeout: 5 * time.Second}}},
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
