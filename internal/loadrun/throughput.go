package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// tpLevel is one offered load, measured.
type tpLevel struct {
	form           string // "reactor" or "command"
	offered        int    // collector runs/s
	jobs, perJob   int
	seconds        int       // 1-second samples taken
	achieved       []float64 // collector runs/s, per sample
	cpu            []float64 // cores, per sample
	meanAchieved   float64   // over the whole window
	meanCPU        float64
	cpuPerRun      float64 // µs of agent CPU per collector run over the window; -1 none ran
	otherCPU       float64 // cores the rest of the machine used during the window
	sinkRuns       float64 // collector runs/s implied by the pushes the sink got
	skipped        int64   // "run skipped" lines during the window
	failures       float64 // collector failures during the window
	pushFailures   float64
	rssMiB         float64 // at the end of the window
	hwmMiB         float64
	scrapeBytes    int
	scrapeTook     []float64 // ms
	excerpt        []string
	err            error
	keptUp         bool
	achievedMedian float64
	cpuMedian      float64
}

type tpSample struct {
	t      time.Time
	m      selfMetrics
	ticks  int64
	busy   int64 // whole machine, from /proc/stat
	skip   int64
	pushes int64
}

func runThroughput(ctx context.Context, e *env, form, plugin string, levels []int) []*tpLevel {
	var out []*tpLevel
	cache := filepath.Join(e.tmp, "cache-throughput")
	saturated := 0
	for _, offered := range levels {
		if ctx.Err() != nil {
			break
		}
		lv := &tpLevel{form: form, offered: offered, perJob: e.perJob}
		lv.jobs = max(1, offered/e.perJob)
		logf("throughput %s: %d collector runs/s offered (%d jobs × %d collectors, every 1s)", form, offered, lv.jobs, lv.perJob)
		lv.err = measureLevel(ctx, e, lv, plugin, cache)
		if lv.err != nil {
			logf("throughput %s %d/s: %v", form, offered, lv.err)
		}
		out = append(out, lv)
		if lv.err == nil && lv.keptUp {
			saturated = 0
			continue
		}
		saturated++
		if saturated >= 2 {
			logf("throughput %s: two levels in a row did not keep up; not ramping further", form)
			break
		}
	}
	return out
}

func measureLevel(ctx context.Context, e *env, lv *tpLevel, plugin, cache string) error {
	jobs := make([]jobSpec, lv.jobs)
	for j := range jobs {
		jobs[j] = jobSpec{name: fmt.Sprintf("tp%04d", j), every: time.Second}
		for c := 0; c < lv.perJob; c++ {
			jobs[j].collectors = append(jobs[j].collectors, collectorSpec{
				name:   fmt.Sprintf("c%02d", c),
				plugin: plugin,
				config: map[string]int{"series": 20},
				// Distinct labels, so that collectors of one job do not
				// collide in the merge and every series is pushed.
				labels: map[string]string{"c": fmt.Sprintf("%02d", c)},
			})
		}
	}
	cfg := filepath.Join(e.tmp, fmt.Sprintf("throughput-%s-%d.yaml", lv.form, lv.offered))
	if err := writeConfig(cfg, e.sink.url(""), jobs); err != nil {
		return err
	}
	a, err := startAgent(e.agent, cfg, cache, true)
	if err != nil {
		return err
	}
	defer func() {
		if !a.exited() {
			if err := a.stop(); err != nil {
				logf("stopping agent: %v", err)
			}
		}
		lv.excerpt = a.logExcerpt()
	}()
	if err := a.waitReady(3 * time.Minute); err != nil {
		return err
	}
	if !sleepCtx(ctx, e.warmup) {
		return ctx.Err()
	}
	take := func() (tpSample, error) {
		var s tpSample
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var err error
		if s.m, err = a.scrape(sctx); err != nil {
			return s, err
		}
		// The counters were gathered just before the answer began, so the
		// sample's time is when it arrived, not when it was asked for.
		s.t = s.m.at
		s.skip, s.pushes = a.skipped.Load(), e.sink.pushes.Load()
		if s.ticks, err = cpuTicks(a.pid); err != nil {
			return s, err
		}
		s.busy, _, err = machineTicks()
		return s, err
	}
	first, err := take()
	if err != nil {
		return err
	}
	prev := first
	last := first
	end := first.t.Add(e.duration)
	for i := 1; ; i++ {
		// One sample a second; when the agent is slow to answer, the next
		// sample still comes a full second after the last one, so that no
		// rate is taken over a sliver of time.
		next := prev.t.Add(time.Second)
		if next.After(end.Add(500 * time.Millisecond)) {
			break
		}
		if !sleepUntil(ctx, next) {
			return ctx.Err()
		}
		if a.exited() {
			return fmt.Errorf("agent exited during the run: %v", a.waitErr)
		}
		s, err := take()
		if err != nil {
			logf("  sample %d: %v", i, err)
			continue
		}
		dt := s.t.Sub(prev.t).Seconds()
		if e.verbose {
			logf("  t=%.2fs runs=%.0f (+%.0f) cpu=+%d ticks skipped=%d sink pushes=%d scrape=%s",
				s.t.Sub(first.t).Seconds(), s.m.runs, s.m.runs-prev.m.runs, s.ticks-prev.ticks, s.skip, s.pushes, s.m.took.Round(time.Millisecond))
		}
		lv.achieved = append(lv.achieved, (s.m.runs-prev.m.runs)/dt)
		lv.cpu = append(lv.cpu, float64(s.ticks-prev.ticks)/clockTicks/dt)
		lv.scrapeTook = append(lv.scrapeTook, float64(s.m.took.Microseconds())/1000)
		lv.scrapeBytes = s.m.bytes
		if rss, _, err := memStatus(a.pid); err == nil && float64(rss)/1024 > float64(e.rssCapMiB) {
			a.kill()
			return fmt.Errorf("agent RSS %.0f MiB passed the -rss-cap-mib %d; killed", float64(rss)/1024, e.rssCapMiB)
		}
		prev, last = s, s
	}
	if len(lv.achieved) == 0 {
		return fmt.Errorf("no sample succeeded")
	}
	window := last.t.Sub(first.t).Seconds()
	lv.seconds = len(lv.achieved)
	lv.meanAchieved = (last.m.runs - first.m.runs) / window
	lv.meanCPU = float64(last.ticks-first.ticks) / clockTicks / window
	lv.cpuPerRun = -1
	if runs := last.m.runs - first.m.runs; runs > 0 {
		lv.cpuPerRun = float64(last.ticks-first.ticks) / clockTicks / runs * 1e6
	}
	lv.otherCPU = float64(last.busy-first.busy)/clockTicks/window - lv.meanCPU
	lv.sinkRuns = float64(last.pushes-first.pushes) * float64(lv.perJob) / window
	lv.skipped = last.skip - first.skip
	lv.failures = last.m.failures - first.m.failures
	lv.pushFailures = last.m.pushFailures - first.m.pushFailures
	if rss, hwm, err := memStatus(a.pid); err == nil {
		lv.rssMiB, lv.hwmMiB = float64(rss)/1024, float64(hwm)/1024
	}
	lv.achievedMedian = median(lv.achieved)
	lv.cpuMedian = median(lv.cpu)
	lv.keptUp = lv.achievedMedian >= 0.95*float64(lv.offered) && lv.skipped == 0 && lv.failures == 0
	logf("  achieved %.0f/s (median), %.2f cores (others %.2f), %d skipped, %.0f failures, RSS %.0f MiB",
		lv.achievedMedian, lv.cpuMedian, lv.otherCPU, lv.skipped, lv.failures, lv.rssMiB)
	return nil
}

func throughputSummary(b *strings.Builder, e *env, reactor, command []*tpLevel) {
	fmt.Fprintf(b, "## 1. Sustained collector runs per second (target ≥ 5,000/s on %d cores)\n\n", e.ncpu)
	fmt.Fprintf(b, "benchplugin (Go SDK, 20 gauge series per run), J jobs × %d collectors, every 1s, PUT, no jitter, pushing to an in-process sink. "+
		"Each level: %s warm-up, then %d 1-second samples of `sum(pushagent_collector_runs_total)` from the agent's /metrics and utime+stime from /proc/<pid>/stat; "+
		"agent CPU per run = agent CPU seconds over the window / collector runs in it. "+
		"Baseline: the same plugin built as a WASI command (one fresh instance per run) at lower offered loads.\n\n", e.perJob, e.warmup, int(e.duration/time.Second))
	b.WriteString("| form | offered runs/s | jobs × collectors | achieved runs/s (median) | achieved (window mean) | runs/s implied by pushes at sink | CPU cores (median) | agent CPU per run (µs) | rest of machine CPU cores (incl. loadrun) | skipped runs | collector failures | push failures | RSS at end (MiB) | /metrics scrape (KiB, median ms) | kept up |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, lv := range append(append([]*tpLevel(nil), reactor...), command...) {
		if lv.err != nil {
			fmt.Fprintf(b, "| %s | %d | %d × %d | error: %s | | | | | | | | | | | no |\n", lv.form, lv.offered, lv.jobs, lv.perJob, mdEscape(lv.err.Error()))
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %d × %d | %.0f | %.0f | %.0f | %.2f | %s | %.2f | %d | %.0f | %.0f | %.0f | %d, %.0f | %s |\n",
			lv.form, lv.offered, lv.jobs, lv.perJob, lv.achievedMedian, lv.meanAchieved, lv.sinkRuns, lv.cpuMedian, count(lv.cpuPerRun), lv.otherCPU,
			lv.skipped, lv.failures, lv.pushFailures, lv.rssMiB, lv.scrapeBytes>>10, median(lv.scrapeTook), yesNo(lv.keptUp))
	}
	b.WriteString("\n")
	for _, set := range [][]*tpLevel{reactor, command} {
		if len(set) == 0 {
			continue
		}
		best, sat := 0.0, 0
		var bestCPU, perRun float64
		for _, lv := range set {
			if lv.err != nil {
				if sat == 0 {
					sat = lv.offered
				}
				continue
			}
			if lv.achievedMedian > best {
				best, bestCPU, perRun = lv.achievedMedian, lv.cpuMedian, lv.cpuPerRun
			}
			if !lv.keptUp && sat == 0 {
				sat = lv.offered
			}
		}
		satText := "did not saturate up to the highest level offered"
		if sat > 0 {
			satText = fmt.Sprintf("first falls behind at %d runs/s offered", sat)
		}
		fmt.Fprintf(b, "- **%s**: best median %.0f runs/s at %.2f cores (%s µs of agent CPU per collector run at that level, push and self-metrics included); %s.\n",
			set[0].form, best, bestCPU, count(perRun), satText)
	}
	for _, lv := range append(append([]*tpLevel(nil), reactor...), command...) {
		if len(lv.excerpt) > 0 && (lv.err != nil || lv.failures > 0 || lv.pushFailures > 0) {
			fmt.Fprintf(b, "- log excerpt, %s at %d/s: `%s`\n", lv.form, lv.offered, mdEscape(strings.Join(lv.excerpt, " ⏎ ")))
		}
	}
	b.WriteString("\n")
}
