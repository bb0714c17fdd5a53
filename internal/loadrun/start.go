package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// startRun is one start of the agent, timed until pushes arrive.
type startRun struct {
	cache      string // "cold" or "warm"
	firstPush  time.Duration
	allPushed  time.Duration // all five jobs
	cacheBytes int64         // size of the cache dir after the run
	err        error
}

func startJobs(e *env) ([]jobSpec, error) {
	all, err := rssJobs(&env{tmp: e.tmp, plugins: e.plugins, bench: e.bench, sink: e.sink, rssPerJob: len(rssPlugins), rssEvery: 10 * time.Second}, 1, false)
	if err != nil {
		return nil, err
	}
	// One job per plugin, so that the first push is the fastest plugin's
	// and the fifth push is the slowest's.
	var jobs []jobSpec
	for i, c := range all[0].collectors {
		c.name = rssPlugins[i]
		jobs = append(jobs, jobSpec{name: "start-" + rssPlugins[i], every: 10 * time.Second, collectors: []collectorSpec{c}})
	}
	return jobs, nil
}

func runStart(ctx context.Context, e *env) []*startRun {
	jobs, err := startJobs(e)
	if err != nil {
		return []*startRun{{cache: "cold", err: err}}
	}
	cfg := filepath.Join(e.tmp, "start.yaml")
	if err := writeConfig(cfg, e.sink.url(""), jobs); err != nil {
		return []*startRun{{cache: "cold", err: err}}
	}
	var out []*startRun
	for i := 0; i < e.startRepeats && ctx.Err() == nil; i++ {
		cache := filepath.Join(e.tmp, fmt.Sprintf("cache-start-%d", i))
		for _, kind := range []string{"cold", "warm"} {
			r := &startRun{cache: kind}
			r.err = timeStart(ctx, e, r, cfg, cache, len(jobs))
			r.cacheBytes = dirSize(cache)
			if r.err != nil {
				logf("start %s #%d: %v", kind, i+1, r.err)
			} else {
				logf("start %s #%d: first push after %s, all %d after %s, cache %.1f MiB", kind, i+1,
					r.firstPush.Round(time.Millisecond), len(jobs), r.allPushed.Round(time.Millisecond), float64(r.cacheBytes)/(1<<20))
			}
			out = append(out, r)
		}
	}
	return out
}

func timeStart(ctx context.Context, e *env, r *startRun, cfg, cache string, jobs int) error {
	pw := e.sink.arm(jobs)
	a, err := startAgent(e.agent, cfg, cache, false)
	if err != nil {
		return err
	}
	defer func() {
		if !a.exited() {
			if err := a.stop(); err != nil {
				logf("stopping agent: %v", err)
			}
		}
	}()
	deadline := 3 * time.Minute
	times := e.sink.wait(pw, deadline)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(times) == 0 {
		return fmt.Errorf("no push within %s; log: %s", deadline, strings.Join(a.logExcerpt(), " | "))
	}
	r.firstPush = times[0].Sub(a.started)
	if len(times) < jobs {
		return fmt.Errorf("only %d of %d jobs pushed within %s", len(times), jobs, deadline)
	}
	r.allPushed = times[len(times)-1].Sub(a.started)
	return nil
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			n += info.Size()
		}
		return nil
	})
	return n
}

func startSummary(b *strings.Builder, e *env, runs []*startRun) {
	fmt.Fprintf(b, "## 3. Agent start to first push, 5 Go plugins (target ≤ 0.5 s warm)\n\n")
	fmt.Fprintf(b, "5 jobs, one collector each (%s), every 10s. Time from exec of `pushagent run` to the first push arriving at the sink, and to the fifth. "+
		"Cold: `--cache-dir` a new empty dir; warm: the same dir again right after. %d repeats each; medians.\n\n", strings.Join(rssPlugins, ", "), e.startRepeats)
	b.WriteString("| compile cache | first push (median) | first push (min … max) | all 5 pushed (median) | runs ok | cache dir size |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|\n")
	for _, kind := range []string{"cold", "warm"} {
		var first, all []float64
		var size int64
		errs := 0
		var firstErr error
		for _, r := range runs {
			if r.cache != kind {
				continue
			}
			size = max(size, r.cacheBytes)
			if r.err != nil {
				errs++
				if firstErr == nil {
					firstErr = r.err
				}
				continue
			}
			first = append(first, r.firstPush.Seconds())
			all = append(all, r.allPushed.Seconds())
		}
		if len(first) == 0 {
			fmt.Fprintf(b, "| %s | error: %s | | | 0/%d | |\n", kind, mdEscape(fmt.Sprint(firstErr)), errs)
			continue
		}
		fmt.Fprintf(b, "| %s | %.3f s | %.3f … %.3f s | %.3f s | %d/%d | %.1f MiB |\n", kind, median(first), minOf(first), maxOf(first), median(all),
			len(first), len(first)+errs, float64(size)/(1<<20))
		if firstErr != nil {
			fmt.Fprintf(b, "\n%s error: %s\n\n", kind, mdEscape(firstErr.Error()))
		}
	}
	var sizes []string
	for _, name := range rssPlugins {
		path := filepath.Join(e.plugins, name+".wasm")
		if name == "benchplugin" {
			path = e.bench
		}
		if fi, err := os.Stat(path); err == nil {
			sizes = append(sizes, fmt.Sprintf("%s %.1f MiB", name, float64(fi.Size())/(1<<20)))
		}
	}
	fmt.Fprintf(b, "\n- plugin .wasm sizes: %s.\n\n", strings.Join(sizes, ", "))
}
