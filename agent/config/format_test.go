package config_test

import (
	"testing"
	"time"

	"github.com/pushagent/pushagent/agent/config"
)

// validate and the status page print a job's schedule with this one
// function, so they agree.
func TestJobSchedule(t *testing.T) {
	for _, tc := range []struct {
		job  config.Job
		want string
	}{
		{config.Job{Every: 15 * time.Second}, "every 15s"},
		{config.Job{Every: 15 * time.Second, Jitter: 2 * time.Second}, "every 15s ±2s"},
		{config.Job{Cron: "*/5 * * * *"}, "*/5 * * * *"},
		{config.Job{Cron: "*/5 * * * *", Jitter: 10 * time.Millisecond}, "*/5 * * * * ±10ms"},
	} {
		if got := tc.job.Schedule(); got != tc.want {
			t.Errorf("Schedule() of every %v cron %q jitter %v = %q, want %q", tc.job.Every, tc.job.Cron, tc.job.Jitter, got, tc.want)
		}
	}
}

func TestDescribeGrouping(t *testing.T) {
	for _, tc := range []struct {
		g    map[string]string
		want string
	}{
		{nil, "no grouping labels"},
		{map[string]string{}, "no grouping labels"},
		{map[string]string{"zone": "b", "instance": "web-1"}, `instance="web-1",zone="b"`},
	} {
		if got := config.DescribeGrouping(tc.g); got != tc.want {
			t.Errorf("DescribeGrouping(%v) = %q, want %q", tc.g, got, tc.want)
		}
	}
}
