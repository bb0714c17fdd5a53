package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// sampled is one process whose memory and CPU a scenario follows.
type sampled struct {
	name   string
	p      *child
	rss    []float64 // MiB, VmRSS once a second
	steady float64   // MiB, median of the samples from the settle time on
	peak   float64   // MiB, highest VmRSS sampled
	hwm    float64   // MiB, VmHWM at the end
	cpu    float64   // cores over the steady window; -1 unknown
	mem    memBreakdown
	memErr error  // smaps could not be read
	capped string // set when the process passed -rss-cap-mib and was killed
	err    error  // the process died or /proc could not be read

	ticks0 int64
	cpu0   time.Duration
	t0     time.Time
}

// sampleSteady samples every process in procs once a second until d after
// start; samples from settle after start on are the steady state, and CPU
// is taken over that window too. At the end it reads each process's smaps.
// A process that dies or passes capMiB stops being sampled (its err or
// capped says why); the others go on. It returns early only when ctx ends.
func sampleSteady(ctx context.Context, procs []*sampled, start time.Time, d, settle time.Duration, capMiB int) error {
	if d <= settle {
		return fmt.Errorf("the duration %s is not longer than the settle time %s", d, settle)
	}
	live := func(s *sampled) bool { return s.err == nil && s.capped == "" }
	steady := make([][]float64, len(procs))
	for _, s := range procs {
		s.cpu = -1
	}
	n := int(d / time.Second)
	for i := 1; i <= n; i++ {
		if !sleepUntil(ctx, start.Add(time.Duration(i)*time.Second)) {
			return ctx.Err()
		}
		inSteady := time.Duration(i)*time.Second >= settle
		for k, s := range procs {
			if !live(s) {
				continue
			}
			if s.p.exited() {
				s.err = fmt.Errorf("exited after %d s: %v; log: %s", i, s.p.waitErr, strings.Join(s.p.logExcerpt(), " | "))
				continue
			}
			rss, hwm, err := memStatus(s.p.pid)
			if err != nil {
				s.err = err
				continue
			}
			mib := float64(rss) / 1024
			s.rss = append(s.rss, mib)
			s.peak = max(s.peak, mib)
			s.hwm = float64(hwm) / 1024
			if inSteady {
				if s.t0.IsZero() {
					s.ticks0, err = cpuTicks(s.p.pid)
					if err == nil {
						s.cpu0, err = cpuTime(s.p.pid)
					}
					if err == nil {
						s.t0 = time.Now()
					}
				}
				steady[k] = append(steady[k], mib)
			}
			if mib > float64(capMiB) {
				s.p.kill()
				s.capped = fmt.Sprintf("passed the %d MiB cap after %d s; killed", capMiB, i)
				logf("  %s %s", s.name, s.capped)
			}
		}
	}
	for k, s := range procs {
		if !live(s) {
			continue
		}
		s.steady = median(steady[k])
		ticks, err1 := cpuTicks(s.p.pid)
		cpu, err2 := cpuTime(s.p.pid)
		if secs := time.Since(s.t0).Seconds(); err1 == nil && err2 == nil && !s.t0.IsZero() && secs > 0 {
			// The thread sum is precise but forgets threads that ended;
			// when it is short of the (coarse) ticks by more than their
			// resolution, the ticks are the better figure.
			byTicks := float64(ticks-s.ticks0) / clockTicks
			byThreads := (cpu - s.cpu0).Seconds()
			if byThreads < byTicks-2.0/clockTicks {
				byThreads = byTicks
			}
			s.cpu = byThreads / secs
		}
		s.mem, s.memErr = smapsBreakdown(s.p.pid)
	}
	return nil
}

// mib formats KiB as MiB.
func mib(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }
