package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// rssRun is one steady-state memory measurement.
type rssRun struct {
	mode         string // "pooled" or "naive"
	jobs         int
	rss          []float64
	steady       float64 // MiB, median of samples after the settle time
	peak         float64 // MiB, highest VmRSS sampled
	hwm          float64 // MiB, VmHWM at the end
	runs         float64
	failures     float64
	pushFailures float64
	warm         float64 // idle instances kept warm at the end (pushagent_plugin_warm_instances); -1 unknown
	warmPages    float64 // wasm pages they hold
	pushes       int64
	skipped      int64
	startup      time.Duration // until /healthz answered
	agentCPU     float64       // cores, mean over the sampling
	otherCPU     float64       // cores the rest of the machine used meanwhile
	capped       string        // set when the agent passed -rss-cap-mib and was killed
	note         string        // a problem that leaves the RSS figures valid
	excerpt      []string
	err          error
}

// rssPlugins are the five first-party reactors the memory run spreads its
// collectors over.
var rssPlugins = []string{"textfile", "procfs", "scrape", "httpjson", "benchplugin"}

func rssJobs(e *env, nJobs int, naive bool) ([]jobSpec, error) {
	textDir := filepath.Join(e.tmp, "textfile")
	if err := os.MkdirAll(textDir, 0o755); err != nil {
		return nil, err
	}
	prom := "# HELP loadrun_backup_size_bytes Size of the last backup.\n# TYPE loadrun_backup_size_bytes gauge\nloadrun_backup_size_bytes{target=\"db\"} 5.24288e+08\n"
	if err := os.WriteFile(filepath.Join(textDir, "backup.prom"), []byte(prom), 0o644); err != nil {
		return nil, err
	}
	host := e.sink.addr
	var jobs []jobSpec
	n := 0
	for j := 0; j < nJobs; j++ {
		js := jobSpec{name: fmt.Sprintf("mem%03d", j), every: e.rssEvery}
		for c := 0; c < e.rssPerJob; c++ {
			kind := rssPlugins[n%len(rssPlugins)]
			cs := collectorSpec{name: fmt.Sprintf("c%02d", c), labels: map[string]string{"c": fmt.Sprintf("%02d", c)}}
			switch kind {
			case "textfile":
				cs.plugin = filepath.Join(e.plugins, "textfile.wasm")
				cs.config = map[string]string{"directory": "/textfile"}
				cs.mounts = map[string]string{"/textfile": textDir}
			case "procfs":
				cs.plugin = filepath.Join(e.plugins, "procfs.wasm")
				cs.config = map[string]string{"proc": "/host/proc"}
				cs.mounts = map[string]string{"/host/proc": "/proc"}
			case "scrape":
				cs.plugin = filepath.Join(e.plugins, "scrape.wasm")
				cs.config = map[string]string{"url": e.sink.url("/scrape/metrics")}
				cs.allowHosts = []string{host}
			case "httpjson":
				cs.plugin = filepath.Join(e.plugins, "httpjson.wasm")
				cs.config = map[string]any{"url": e.sink.url("/doc.json"), "metrics": []map[string]string{
					{"name": "loadrun_queue_depth", "help": "Queue depth.", "path": "$.queue.depth"},
					{"name": "loadrun_queue_workers", "help": "Workers.", "path": "$.queue.workers"},
					{"name": "loadrun_uptime_seconds", "help": "Uptime.", "path": "$.uptime_seconds"},
				}}
				cs.allowHosts = []string{host}
			case "benchplugin":
				cs.plugin = e.bench
				cs.config = map[string]int{"series": 20}
			}
			if naive {
				// A grant no other collector has: the agent pools warm
				// instances per plugin + memory limit + grants, so this
				// collector gets an instance of its own.
				u := filepath.Join(e.tmp, "unique", fmt.Sprintf("%04d", n))
				if err := os.MkdirAll(u, 0o755); err != nil {
					return nil, err
				}
				if cs.mounts == nil {
					cs.mounts = map[string]string{}
				}
				cs.mounts["/unique"] = u
			}
			js.collectors = append(js.collectors, cs)
			n++
		}
		jobs = append(jobs, js)
	}
	return jobs, nil
}

func runRSS(ctx context.Context, e *env) []*rssRun {
	cache := filepath.Join(e.tmp, "cache-rss")
	var out []*rssRun
	// The small scale first: it finishes even where the full one passes
	// the RSS cap, and shows how memory grows with collectors.
	scales := []int{e.rssJobs}
	if e.rssSmallJobs > 0 && e.rssSmallJobs < e.rssJobs {
		scales = []int{e.rssSmallJobs, e.rssJobs}
	}
	for _, jobs := range scales {
		for _, mode := range []string{"pooled", "naive"} {
			if ctx.Err() != nil {
				return out
			}
			r := &rssRun{mode: mode, jobs: jobs}
			r.err = measureRSS(ctx, e, r, cache)
			if r.err != nil {
				logf("rss %s: %v", mode, r.err)
			}
			out = append(out, r)
		}
	}
	return out
}

func measureRSS(ctx context.Context, e *env, r *rssRun, cache string) error {
	jobs, err := rssJobs(e, r.jobs, r.mode == "naive")
	if err != nil {
		return err
	}
	cfg := filepath.Join(e.tmp, fmt.Sprintf("rss-%s-%d.yaml", r.mode, r.jobs*e.rssPerJob))
	if err := writeConfig(cfg, e.sink.url(""), jobs); err != nil {
		return err
	}
	// Compile into the cache first, so that both modes start warm and the
	// peak is the agent's, not the compiler's.
	vctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	out, err := exec.CommandContext(vctx, e.agent, "validate", "--config", cfg, "--cache-dir", cache).CombinedOutput()
	cancel()
	if err != nil {
		return fmt.Errorf("pushagent validate: %v: %s", err, firstLines(string(out), 5))
	}
	logf("rss %s: %d jobs × %d collectors over %v, every %s, sampling for %s", r.mode, r.jobs, e.rssPerJob, rssPlugins, e.rssEvery, e.rssDuration)
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
	busy0, _, _ := machineTicks()
	r.agentCPU, r.otherCPU = -1, -1
	defer func() {
		// a.pid may be gone after a kill; then the figures stay zero.
		busy1, _, err1 := machineTicks()
		ticks, err2 := cpuTicks(a.pid)
		if secs := time.Since(a.started).Seconds(); err1 == nil && err2 == nil && secs > 0 {
			r.agentCPU = float64(ticks) / clockTicks / secs
			r.otherCPU = float64(busy1-busy0)/clockTicks/secs - r.agentCPU
		}
	}()
	var steady []float64
	ready := false
	n := int(e.rssDuration / time.Second)
	for i := 1; i <= n; i++ {
		if !sleepUntil(ctx, a.started.Add(time.Duration(i)*time.Second)) {
			return ctx.Err()
		}
		if a.exited() {
			return fmt.Errorf("agent exited: %v; log: %s", a.waitErr, strings.Join(a.logExcerpt(), " | "))
		}
		rss, hwm, err := memStatus(a.pid)
		if err != nil {
			return err
		}
		mib := float64(rss) / 1024
		r.rss = append(r.rss, mib)
		r.peak = max(r.peak, mib)
		r.hwm = float64(hwm) / 1024
		if time.Duration(i)*time.Second >= e.rssSettle {
			steady = append(steady, mib)
		}
		if !ready {
			if a.waitReady(10*time.Millisecond) == nil {
				ready = true
				r.startup = time.Since(a.started)
			}
		}
		if mib > float64(e.rssCapMiB) {
			a.kill()
			r.capped = fmt.Sprintf("passed the %d MiB cap after %d s; killed", e.rssCapMiB, i)
			r.skipped = a.skipped.Load()
			r.pushes = e.sink.pushes.Load() - pushes0
			logf("  %s", r.capped)
			return nil
		}
	}
	if len(steady) == 0 {
		return fmt.Errorf("-rss-duration %s is not longer than -rss-settle %s", e.rssDuration, e.rssSettle)
	}
	r.steady = median(steady)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r.pushes = e.sink.pushes.Load() - pushes0
	m, err := a.scrape(sctx)
	if err != nil {
		r.note = err.Error()
		r.runs, r.failures, r.pushFailures, r.warm = -1, -1, -1, -1
	} else {
		r.runs, r.failures, r.pushFailures = m.runs, m.failures, m.pushFailures
		r.warm, r.warmPages = m.warm, m.warmPages
	}
	r.skipped = a.skipped.Load()
	logf("  steady %.0f MiB, peak %.0f MiB, VmHWM %.0f MiB, %.0f runs, %.0f failures, %.0f warm instances", r.steady, r.peak, r.hwm, r.runs, r.failures, r.warm)
	return nil
}

func rssSummary(b *strings.Builder, e *env, runs []*rssRun) {
	total := e.rssJobs * e.rssPerJob
	fmt.Fprintf(b, "## 2. Agent RSS, %d collectors over 5 Go plugins, steady state (target ≤ 150 MiB)\n\n", total)
	fmt.Fprintf(b, "%d jobs × %d collectors, every %s, plugins %s (reactors; %s memory limit each), compile cache warm. "+
		"VmRSS from /proc/<pid>/status every second for %s from process start; steady state = median of the samples from %s on. "+
		"Baseline (naive): the same collectors, each with a distinct extra mount (`/unique`), so no warm instance is shared. "+
		"Warm instances: `sum(pushagent_plugin_warm_instances)` from the agent's /metrics at the end (pools keep as many as recent concurrency needed).",
		e.rssJobs, e.rssPerJob, e.rssEvery, strings.Join(rssPlugins, ", "), defaultMemLimit, e.rssDuration, e.rssSettle)
	if e.rssSmallJobs > 0 && e.rssSmallJobs < e.rssJobs {
		fmt.Fprintf(b, " Each mode also runs at a smaller scale (%d jobs), which fits under the %d MiB safety cap of this shared machine.", e.rssSmallJobs, e.rssCapMiB)
	}
	b.WriteString("\n\n")
	b.WriteString("| mode | collectors | steady VmRSS median (MiB) | peak VmRSS sampled (MiB) | VmHWM (MiB) | ready after (1 s resolution) | collector runs | collector failures | push failures | warm instances at end (wasm MiB they hold) | pushes | skipped runs | agent CPU cores | rest of machine CPU cores |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	naive := map[int]*rssRun{}
	for _, r := range runs {
		if r.err != nil {
			fmt.Fprintf(b, "| %s | %d | error: %s | | | | | | | | | | | |\n", r.mode, r.jobs*e.rssPerJob, mdEscape(r.err.Error()))
			continue
		}
		if r.capped != "" {
			fmt.Fprintf(b, "| %s | %d | > %d (%s) | %.0f | %.0f | %s | ? | ? | ? | ? | %d | %d | %s | %s |\n",
				r.mode, r.jobs*e.rssPerJob, e.rssCapMiB, r.capped, r.peak, r.hwm, r.startup.Round(10*time.Millisecond), r.pushes, r.skipped, cores(r.agentCPU), cores(r.otherCPU))
			continue
		}
		warm := "?"
		if r.warm >= 0 {
			warm = fmt.Sprintf("%.0f (%.0f)", r.warm, r.warmPages/16)
		}
		fmt.Fprintf(b, "| %s | %d | %.0f | %.0f | %.0f | %s | %s | %s | %s | %s | %d | %d | %s | %s |\n",
			r.mode, r.jobs*e.rssPerJob, r.steady, r.peak, r.hwm, r.startup.Round(10*time.Millisecond), count(r.runs), count(r.failures), count(r.pushFailures), warm, r.pushes, r.skipped, cores(r.agentCPU), cores(r.otherCPU))
		if r.mode == "naive" {
			naive[r.jobs] = r
		}
	}
	b.WriteString("\n")
	for _, r := range runs {
		if r.note != "" {
			fmt.Fprintf(b, "- %s, %d collectors: could not read the agent's counters at the end (%s).\n", r.mode, r.jobs*e.rssPerJob, mdEscape(r.note))
		}
		if len(r.rss) > 0 {
			fmt.Fprintf(b, "- %s, %d collectors, VmRSS every 5 s (MiB): %s\n", r.mode, r.jobs*e.rssPerJob, everyNth(r.rss, 5))
		}
	}
	for _, p := range runs {
		jobs := p.jobs
		n := naive[jobs]
		if p.mode != "pooled" || p.err != nil || n == nil || n.err != nil || p.capped != "" || n.capped != "" {
			continue
		}
		c := jobs * e.rssPerJob
		fmt.Fprintf(b, "- %d collectors: naive / pooled steady RSS %.1f×", c, n.steady/p.steady)
		// The warm instances are what the agent reported at the end of each
		// run: pools keep as many as recent concurrency needed.
		if p.warm >= 0 && n.warm > p.warm {
			fmt.Fprintf(b, "; ≈ %.2f MiB per extra warm instance ((naive − pooled) / (%.0f − %.0f warm instances))", (n.steady-p.steady)/(n.warm-p.warm), n.warm, p.warm)
		}
		b.WriteString(".\n")
	}
	for _, r := range runs {
		if len(r.excerpt) > 0 && (r.err != nil || r.failures > 0 || r.pushFailures > 0) {
			fmt.Fprintf(b, "- log excerpt, %s, %d collectors: `%s`\n", r.mode, r.jobs*e.rssPerJob, mdEscape(strings.Join(r.excerpt, " ⏎ ")))
		}
	}
	b.WriteString("\n")
}

func count(v float64) string {
	if v < 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f", v)
}

func everyNth(xs []float64, n int) string {
	var parts []string
	for i := n - 1; i < len(xs); i += n {
		parts = append(parts, fmt.Sprintf("%.0f", xs[i]))
	}
	return strings.Join(parts, ", ")
}

func cores(v float64) string {
	if v < 0 {
		return "?"
	}
	return fmt.Sprintf("%.2f", v)
}
