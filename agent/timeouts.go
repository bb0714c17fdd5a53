package agent

import (
	"slices"
	"time"

	"github.com/pushagent/pushagent/agent/config"
)

// LoweredTimeout is what the built-in default timeout (neither the
// collector's timeout nor defaults.timeout set) becomes for the collectors
// of job j when it does not fit the job's interval: the largest timeout
// that does (to 100 ms, as TimeoutWarnings suggests); 0 when the default
// fits or the job runs on a cron schedule. A user who wrote only every: 5s
// is then neither warned about a value they never set nor has collectors
// stopped by the run rather than by their own timeout.
func LoweredTimeout(cfg *config.Config, j config.Job) time.Duration {
	if j.Every <= 0 {
		return 0 // a cron job's runs vary in length: not checked
	}
	run := runLength(j.Every)
	collectFor := run - pushReserve(run, configReserve(cfg, j))
	if !slices.ContainsFunc(j.Collectors, func(c config.Collector) bool { return c.TimeoutSetAt == "" && c.Timeout > collectFor }) {
		return 0
	}
	return max(collectFor.Truncate(100*time.Millisecond), time.Millisecond)
}

// fitTimeouts returns j with LoweredTimeout for the collectors whose
// timeout is the built-in default. A timeout the user set is kept, and
// TimeoutWarnings tells them when it does not fit.
func fitTimeouts(cfg *config.Config, j config.Job) config.Job {
	d := LoweredTimeout(cfg, j)
	if d == 0 {
		return j
	}
	cols := make([]config.Collector, len(j.Collectors))
	for i, c := range j.Collectors {
		if c.TimeoutSetAt == "" && c.Timeout > d {
			c.Timeout = d
		}
		cols[i] = c
	}
	j.Collectors = cols
	return j
}
