package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The memlimit scenario measures what one plugin that uses all of its
// memory_limit costs the agent: the same agent config with and without a
// collector running testdata/grow.wat, which grows its linear memory to
// just under the limit and touches every page on every run.

// growMetric is the gauge grow.wat prints: the bytes of linear memory it
// reached and touched.
const growMetric = "loadrun_grow_bytes"

// memRun is one agent run of the memlimit scenario.
type memRun struct {
	limitMiB int  // the grower's memory_limit
	grow     bool // whether the grower is in the config
	s        *sampled
	runs     float64 // collector runs, all collectors
	failures float64
	reached  float64 // bytes the grower last reported; -1 none
	pushes   int64
	excerpt  []string
	err      error
}

func (r *memRun) label() string {
	if r.grow {
		return fmt.Sprintf("benchplugin + grower at %d MiB", r.limitMiB)
	}
	return "benchplugin only"
}

// memJobs is the memlimit config: one job with the benchplugin collector
// and, when limitMiB > 0, the grower at that memory limit.
func memJobs(e *env, limitMiB int) []jobSpec {
	j := jobSpec{name: "memlimit", every: e.memEvery, collectors: []collectorSpec{{
		name: "bench", plugin: e.bench, config: map[string]int{"series": 20}, labels: map[string]string{"c": "bench"},
	}}}
	if limitMiB > 0 {
		j.collectors = append(j.collectors, collectorSpec{
			name: "grow", plugin: e.grow, labels: map[string]string{"c": "grow"}, memLimit: fmt.Sprintf("%dMiB", limitMiB),
		})
	}
	return []jobSpec{j}
}

func runMemlimit(ctx context.Context, e *env) []*memRun {
	var out []*memRun
	cache := filepath.Join(e.tmp, "cache-memlimit")
	// Pairs, base first, so that each difference is between two runs
	// close in time on this shared machine.
	for _, limit := range e.memLimits {
		for _, grow := range []bool{false, true} {
			if ctx.Err() != nil {
				return out
			}
			r := &memRun{limitMiB: limit, grow: grow, reached: -1}
			r.err = measureMem(ctx, e, r, cache)
			if r.err != nil {
				logf("memlimit %s: %v", r.label(), r.err)
			}
			out = append(out, r)
		}
	}
	return out
}

func measureMem(ctx context.Context, e *env, r *memRun, cache string) error {
	limit := 0
	if r.grow {
		limit = r.limitMiB
	}
	cfg := filepath.Join(e.tmp, fmt.Sprintf("memlimit-%d-%s.yaml", r.limitMiB, yesNo(r.grow)))
	if err := writeConfig(cfg, e.sink.url(""), memJobs(e, limit)); err != nil {
		return err
	}
	vctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	out, err := exec.CommandContext(vctx, e.agent, "validate", "--config", cfg, "--cache-dir", cache).CombinedOutput()
	cancel()
	if err != nil {
		return fmt.Errorf("pushagent validate: %v: %s", err, firstLines(string(out), 5))
	}
	logf("memlimit: %s, every %s, sampling for %s", r.label(), e.memEvery, e.memDuration)
	e.sink.forget()
	e.sink.decode.Store(true)
	defer e.sink.decode.Store(false)
	pushes0 := e.sink.pushes.Load()
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
		r.excerpt = a.logExcerpt()
	}()
	r.s = &sampled{name: "pushagent", p: a}
	if err := sampleSteady(ctx, []*sampled{r.s}, a.started, e.memDuration, e.memSettle, e.rssCapMiB); err != nil {
		return err
	}
	if r.s.err != nil {
		return r.s.err
	}
	r.pushes = e.sink.pushes.Load() - pushes0
	if v, ok := e.sink.lastValue(growMetric); ok {
		r.reached = v
	}
	if r.s.capped != "" {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := a.scrape(sctx)
	if err != nil {
		return err
	}
	r.runs, r.failures = m.runs, m.failures
	logf("  steady %.1f MiB, VmHWM %.1f MiB, %.0f runs, %.0f failures", r.s.steady, r.s.hwm, r.runs, r.failures)
	if r.grow && r.reached < 0 {
		return fmt.Errorf("no %s reached the sink: the grower never succeeded; log: %s", growMetric, strings.Join(a.logExcerpt(), " | "))
	}
	return nil
}

func memlimitSummary(b *strings.Builder, e *env, runs []*memRun) {
	limits := make([]string, len(e.memLimits))
	for i, l := range e.memLimits {
		limits[i] = fmt.Sprintf("%d MiB", l)
	}
	fmt.Fprintf(b, "## 5. A plugin at its memory_limit (%s): agent RSS above the same agent without it\n\n", strings.Join(limits, ", "))
	fmt.Fprintf(b, "One job every %s, PUT, with the benchplugin collector (20 series, reactor, memory_limit %s); the other run of each pair adds one collector: "+
		"testdata/grow.wat, a WASI command (a fresh instance every run) that calls memory.grow in 1 MiB steps until it is refused, just under its memory_limit, "+
		"writes one byte in every 4 KiB of its linear memory, and prints `%s`. Compile cache warm. Each run samples VmRSS every second for %s from process start; "+
		"steady = median from %s on; VmHWM at the end; anon rw from /proc/<pid>/smaps at the end. Base run first, then the grower, per limit.\n\n",
		e.memEvery, defaultMemLimit, growMetric, e.memDuration, e.memSettle)
	b.WriteString("| grower's memory_limit | config | steady VmRSS median (MiB) | VmHWM (MiB) | peak VmRSS sampled (MiB) | anon rw at end (MiB) | agent CPU cores | collector runs | failures | grower reached (MiB) | pushes |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range runs {
		if r.err != nil {
			fmt.Fprintf(b, "| %d MiB | %s | error: %s | | | | | | | | |\n", r.limitMiB, r.label(), mdEscape(r.err.Error()))
			continue
		}
		reached := "–"
		if r.reached >= 0 {
			reached = fmt.Sprintf("%.2f", r.reached/(1<<20))
		}
		if r.s.capped != "" {
			fmt.Fprintf(b, "| %d MiB | %s | > %d (%s) | %.1f | %.1f | | | | | %s | %d |\n", r.limitMiB, r.label(), e.rssCapMiB, r.s.capped, r.s.hwm, r.s.peak, reached, r.pushes)
			continue
		}
		fmt.Fprintf(b, "| %d MiB | %s | %.1f | %.1f | %.1f | %s | %s | %.0f | %.0f | %s | %d |\n", r.limitMiB, r.label(),
			r.s.steady, r.s.hwm, r.s.peak, mib(r.s.mem.anonRW), cores4(r.s.cpu), r.runs, r.failures, reached, r.pushes)
	}
	b.WriteString("\n")
	for i := 0; i+1 < len(runs); i += 2 {
		base, grow := runs[i], runs[i+1]
		if base.err != nil || grow.err != nil || base.s.capped != "" || grow.s.capped != "" {
			continue
		}
		fmt.Fprintf(b, "- **%d MiB**: the grower adds %+.1f MiB to the agent's VmHWM and %+.1f MiB to its steady RSS (%+.1f MiB anon rw), i.e. %.2f× and %.2f× its memory_limit.\n",
			grow.limitMiB, grow.s.hwm-base.s.hwm, grow.s.steady-base.s.steady, float64(grow.s.mem.anonRW-base.s.mem.anonRW)/1024,
			(grow.s.hwm-base.s.hwm)/float64(grow.limitMiB), (grow.s.steady-base.s.steady)/float64(grow.limitMiB))
	}
	for _, r := range runs {
		if r.s != nil && len(r.s.rss) > 0 {
			fmt.Fprintf(b, "- %d MiB, %s, VmRSS every 5 s (MiB): %s\n", r.limitMiB, r.label(), everyNth(r.s.rss, 5))
		}
		if len(r.excerpt) > 0 && (r.err != nil || r.failures > 0) {
			fmt.Fprintf(b, "- log excerpt, %d MiB, %s: `%s`\n", r.limitMiB, r.label(), mdEscape(strings.Join(r.excerpt, " ⏎ ")))
		}
	}
	b.WriteString("\n")
}
