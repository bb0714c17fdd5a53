// Command loadrun measures the real pushagent binary under load and prints
// a Markdown summary: sustained collector runs per second, steady-state
// RSS with many collectors (pooled vs one instance per collector),
// start-to-first-push with a cold and a warm compile cache, the agent's
// footprint as a sidecar on the bundled schedules.yaml beside
// node_exporter, vmagent and a client_golang push loop (internal/barepush),
// and what a plugin at its memory_limit adds to the agent's RSS. Each
// figure stands beside a baseline measured in the same run.
//
// It runs the agent (and the peers it is compared with) as child processes
// against an in-process sink on 127.0.0.1 that stands in for the
// Pushgateway and a remote_write receiver, and reads the agent's own
// /metrics and /proc/<pid>. It never talks to anything but 127.0.0.1, and
// every wait is bounded. scripts/loadrun.sh builds what it needs and runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// env is what every scenario shares.
type env struct {
	agent, plugins, bench, benchCommand string
	tmp                                 string
	sink                                *sink
	ncpu                                int

	duration, warmup time.Duration
	perJob           int
	rssCapMiB        int

	rssJobs, rssPerJob, rssSmallJobs int
	rssEvery, rssDuration, rssSettle time.Duration

	startRepeats int

	schedules, nodeExporter, vmagent, barepush string
	sideDuration, sideSettle                   time.Duration
	textSeries                                 int
	textEvery                                  time.Duration

	grow                             string
	memLimits                        []int // MiB
	memEvery, memDuration, memSettle time.Duration

	soak soakOpts

	verbose bool
}

func main() {
	os.Exit(run())
}

func run() int {
	var (
		e        env
		scenario string
		levels   string
		cmdLvls  string
		memLims  string
		outFile  string
		keep     bool
		timeout  time.Duration
	)
	flag.StringVar(&e.agent, "agent", "bin/pushagent", "the pushagent binary to measure")
	flag.StringVar(&e.plugins, "plugins", "plugins", "directory holding textfile.wasm, procfs.wasm, scrape.wasm and httpjson.wasm (make build)")
	flag.StringVar(&e.bench, "bench", "", "internal/benchplugin built as a reactor (required)")
	flag.StringVar(&e.benchCommand, "bench-command", "", "internal/benchplugin built as a WASI command: the throughput baseline; empty skips it")
	flag.StringVar(&scenario, "scenario", "all", "throughput, rss, start, sidecar, memlimit, textfile, all (those six) or soak")
	flag.DurationVar(&e.duration, "duration", 20*time.Second, "measurement window of each throughput level")
	flag.DurationVar(&e.warmup, "warmup", 10*time.Second, "warm-up of each throughput level, after the agent is ready")
	flag.StringVar(&levels, "levels", "250,500,1000,2000,4000,8000", "offered collector runs/s of the throughput ramp (reactor)")
	flag.StringVar(&cmdLvls, "command-levels", "100,250,500", "offered collector runs/s for the command-form baseline")
	flag.IntVar(&e.perJob, "collectors-per-job", 10, "collectors per job in the throughput runs")
	flag.IntVar(&e.rssJobs, "rss-jobs", 100, "jobs in the RSS run")
	flag.IntVar(&e.rssSmallJobs, "rss-small-jobs", 10, "also run the RSS pair with this many jobs (0: don't)")
	flag.IntVar(&e.rssPerJob, "rss-collectors-per-job", 10, "collectors per job in the RSS run")
	flag.DurationVar(&e.rssEvery, "rss-every", 10*time.Second, "interval of the RSS run's jobs")
	flag.DurationVar(&e.rssDuration, "rss-duration", 60*time.Second, "how long the RSS run samples, from process start")
	flag.DurationVar(&e.rssSettle, "rss-settle", 30*time.Second, "samples from this long after start count as steady state")
	flag.IntVar(&e.rssCapMiB, "rss-cap-mib", 8192, "kill the agent if its RSS passes this (the machine is shared)")
	flag.IntVar(&e.startRepeats, "start-repeats", 5, "cold and warm starts each")
	flag.StringVar(&e.schedules, "schedules", "schedules.yaml", "the bundled config the sidecar scenario runs (plugin paths are taken from -plugins, relative mounts from its directory, which must hold examples/textfile)")
	flag.StringVar(&e.nodeExporter, "node-exporter", "", "node_exporter binary for the sidecar scenario (default: prometheus-node-exporter or node_exporter on PATH)")
	flag.StringVar(&e.vmagent, "vmagent", "", "vmagent binary for the sidecar scenario (default: vmagent on PATH)")
	flag.StringVar(&e.barepush, "barepush", "", "internal/barepush binary for the sidecar scenario (default: go build it)")
	flag.DurationVar(&e.sideDuration, "sidecar-duration", 90*time.Second, "how long the sidecar scenario samples, from process start")
	flag.IntVar(&e.textSeries, "textfile-series", 10000, "series in the textfile scenario's .prom file (it also uses -sidecar-duration and -sidecar-settle)")
	flag.DurationVar(&e.textEvery, "textfile-every", time.Second, "how often the textfile scenario's agent and vmagent read the file")
	flag.DurationVar(&e.sideSettle, "sidecar-settle", 30*time.Second, "sidecar samples from this long after start count as steady state")
	flag.StringVar(&e.grow, "grow", "", "internal/loadrun/testdata/grow.wat built with wat2wasm: the memlimit scenario's collector (required for it)")
	flag.StringVar(&memLims, "memlimit-limits", "32,128", "memory_limit of the grower in MiB, one pair of runs each")
	flag.DurationVar(&e.memEvery, "memlimit-every", 2*time.Second, "interval of the memlimit scenario's job")
	flag.DurationVar(&e.memDuration, "memlimit-duration", 40*time.Second, "how long each memlimit run samples, from process start")
	flag.DurationVar(&e.memSettle, "memlimit-settle", 10*time.Second, "memlimit samples from this long after start count as steady state")
	flag.DurationVar(&e.soak.duration, "soak-duration", time.Hour, "how long the soak scenario runs its load")
	flag.DurationVar(&e.soak.outageEvery, "soak-outage-every", 10*time.Minute, "the soak stops VictoriaMetrics once in each period this long")
	flag.DurationVar(&e.soak.outageFor, "soak-outage-for", 2*time.Minute, "for this long (mid-period); 0: no outages")
	flag.DurationVar(&e.soak.reloadEvery, "soak-reload-every", time.Minute, "the soak rewrites the agent's config this often")
	flag.DurationVar(&e.soak.sampleEvery, "soak-sample-every", time.Minute, "the soak records RSS and goroutines this often")
	flag.DurationVar(&e.soak.settle, "soak-settle", 10*time.Minute, "RSS and goroutines are judged on the samples from this long after the start")
	flag.DurationVar(&e.soak.grace, "soak-grace", 30*time.Second, "push failures this long after an outage still count as the outage's")
	flag.IntVar(&e.soak.runs, "soak-runs", 1000, "collector runs/s the soak offers (a multiple of -collectors-per-job)")
	flag.IntVar(&e.soak.series, "soak-series", 2, "series each of the soak's benchplugin collectors emits")
	flag.StringVar(&e.soak.hostile, "soak-hostile", "", "directory holding loop, unreachable, stdout_flood, alloc and sleep .wasm built from agent/testdata/hostile (required for soak)")
	flag.StringVar(&e.soak.pushgateway, "pushgateway", "", "Pushgateway binary for the soak (default: prometheus-pushgateway or pushgateway on PATH)")
	flag.StringVar(&e.soak.victoria, "victoria-metrics", "", "VictoriaMetrics binary for the soak (default: victoria-metrics on PATH)")
	flag.BoolVar(&e.verbose, "v", false, "log every sample")
	flag.StringVar(&outFile, "out", "", "also write the summary to this file")
	flag.BoolVar(&keep, "keep", false, "keep the temporary directory (configs, caches)")
	flag.DurationVar(&timeout, "timeout", 30*time.Minute, "stop everything after this long")
	flag.Parse()

	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "loadrun: unexpected argument %q\n", flag.Arg(0))
		return 2
	}
	want := map[string]bool{}
	scenarios := []string{"throughput", "rss", "start", "sidecar", "memlimit", "textfile"}
	switch {
	case scenario == "all":
		for _, s := range scenarios {
			want[s] = true
		}
	case slices.Contains(scenarios, scenario), scenario == "soak":
		want[scenario] = true
	default:
		fmt.Fprintf(os.Stderr, "loadrun: -scenario %q is not %s, all or soak\n", scenario, strings.Join(scenarios, ", "))
		return 2
	}
	lv, err1 := parseLevels(levels, "-levels", "runs/s")
	clv, err2 := parseLevels(cmdLvls, "-command-levels", "runs/s")
	var err3 error
	e.memLimits, err3 = parseLevels(memLims, "-memlimit-limits", "MiB")
	var problems []string
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			problems = append(problems, err.Error())
		}
	}
	// A level is jobs × collectors per job, so that the offered load is
	// exactly the level asked for (-levels 200 -collectors-per-job 10: 20 jobs).
	if e.perJob > 0 {
		for _, l := range append(slices.Clone(lv), clv...) {
			if l%e.perJob != 0 {
				problems = append(problems, fmt.Sprintf("level %d is not a multiple of -collectors-per-job %d", l, e.perJob))
			}
		}
	}
	if want["soak"] {
		o := e.soak
		if o.hostile == "" {
			problems = append(problems, "-soak-hostile: required for the soak scenario (a directory of agent/testdata/hostile/*.wat built with wat2wasm)")
		}
		if o.duration <= 0 || o.reloadEvery <= 0 || o.sampleEvery <= 0 || o.outageFor < 0 || (o.outageFor > 0 && o.outageEvery <= o.outageFor) {
			problems = append(problems, "-soak-duration, -soak-reload-every and -soak-sample-every must be positive, and -soak-outage-for shorter than -soak-outage-every")
		}
		if o.runs < e.perJob || o.runs%e.perJob != 0 || o.series < 1 {
			problems = append(problems, fmt.Sprintf("-soak-runs %d must be a multiple of -collectors-per-job %d, and -soak-series ≥ 1", o.runs, e.perJob))
		}
		// The soak outlasts the default -timeout; leave room for the drain.
		timeout = max(timeout, o.duration+20*time.Minute)
	}
	if e.bench == "" && (want["throughput"] || want["rss"] || want["start"] || want["memlimit"] || want["soak"]) {
		problems = append(problems, "-bench: required (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bench.wasm ./internal/benchplugin)")
	}
	if e.grow == "" && want["memlimit"] {
		problems = append(problems, "-grow: required for the memlimit scenario (wat2wasm internal/loadrun/testdata/grow.wat -o grow.wasm)")
	}
	if (want["sidecar"] || want["textfile"]) && e.sideDuration <= e.sideSettle {
		problems = append(problems, "-sidecar-duration must be longer than -sidecar-settle")
	}
	if want["memlimit"] && (e.memDuration <= e.memSettle || e.memEvery <= 0) {
		problems = append(problems, "-memlimit-duration must be longer than -memlimit-settle, and -memlimit-every positive")
	}
	paths := []*string{&e.agent, &e.plugins, &e.bench, &e.benchCommand, &e.grow, &e.barepush, &e.soak.hostile}
	if want["sidecar"] {
		paths = append(paths, &e.schedules)
	}
	for _, p := range paths {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		*p = abs
		if _, err := os.Stat(abs); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if want["rss"] || want["start"] {
		for _, name := range []string{"textfile", "procfs", "scrape", "httpjson"} {
			if _, err := os.Stat(filepath.Join(e.plugins, name+".wasm")); err != nil {
				problems = append(problems, fmt.Sprintf("-plugins: %v (run make build)", err))
			}
		}
	}
	if e.duration < 2*time.Second || e.perJob < 1 || e.rssJobs < 1 || e.rssPerJob < 1 || e.startRepeats < 1 {
		problems = append(problems, "-duration must be ≥ 2s; -collectors-per-job, -rss-jobs, -rss-collectors-per-job and -start-repeats ≥ 1")
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "loadrun:\n  %s\n", strings.Join(problems, "\n  "))
		return 2
	}

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var err error
	if e.tmp, err = os.MkdirTemp("", "pushagent-loadrun-"); err != nil {
		fmt.Fprintln(os.Stderr, "loadrun:", err)
		return 1
	}
	if keep {
		logf("keeping %s", e.tmp)
	} else {
		defer os.RemoveAll(e.tmp)
	}
	if e.sink, err = startSink(); err != nil {
		fmt.Fprintln(os.Stderr, "loadrun:", err)
		return 1
	}
	defer e.sink.close()
	e.ncpu = runtime.NumCPU()

	var b strings.Builder
	began := time.Now()
	header(&b, &e)
	load0 := loadavg()

	if want["throughput"] {
		reactor := runThroughput(ctx, &e, "reactor", e.bench, lv)
		var command []*tpLevel
		if e.benchCommand != "" {
			command = runThroughput(ctx, &e, "command", e.benchCommand, clv)
		}
		throughputSummary(&b, &e, reactor, command)
	}
	if want["rss"] {
		rssSummary(&b, &e, runRSS(ctx, &e))
	}
	if want["start"] {
		startSummary(&b, &e, runStart(ctx, &e))
	}
	if want["sidecar"] {
		sidecarSummary(&b, &e, runSidecar(ctx, &e))
	}
	if want["memlimit"] {
		memlimitSummary(&b, &e, runMemlimit(ctx, &e))
	}
	if want["textfile"] {
		textfileSummary(&b, &e, runTextfile(ctx, &e))
	}
	var soak *soakRun
	if want["soak"] {
		soak = runSoak(ctx, &e)
		soakSummary(&b, &e, soak)
	}
	if want["soak"] {
		// The soak talks to a real Pushgateway and VictoriaMetrics, not the sink.
		fmt.Fprintf(&b, "Load average before: %s; after: %s. Took %s.\n", load0, loadavg(), time.Since(began).Round(time.Second))
	} else {
		fmt.Fprintf(&b, "Load average before: %s; after: %s. Took %s. Sink received %d pushes (%.1f MiB), %d deletes, %d remote_write requests (%.1f MiB).\n",
			load0, loadavg(), time.Since(began).Round(time.Second), e.sink.pushes.Load(), float64(e.sink.bytes.Load())/(1<<20), e.sink.deletes.Load(),
			e.sink.remoteWrites.Load(), float64(e.sink.remoteWriteBytes.Load())/(1<<20))
	}
	if ctx.Err() != nil {
		fmt.Fprintf(&b, "\n**Stopped early: %v.**\n", context.Cause(ctx))
	}

	fmt.Print(b.String())
	if outFile != "" {
		if err := os.WriteFile(outFile, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "loadrun:", err)
			return 1
		}
	}
	if ctx.Err() != nil {
		return 1
	}
	if soak != nil {
		for _, c := range soakChecks(soak) {
			if !c.ok || soak.err != nil {
				fmt.Fprintln(os.Stderr, "loadrun: the soak missed a target (see the checks above)")
				return 1
			}
		}
	}
	return 0
}

func header(b *strings.Builder, e *env) {
	model := "unknown"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	goVersion := runtime.Version()
	if out, err := exec.Command("go", "version").Output(); err == nil {
		goVersion = strings.TrimSpace(string(out))
	}
	agentVersion := "?"
	if out, err := exec.Command(e.agent, "version").Output(); err == nil {
		agentVersion = strings.TrimSpace(string(out))
	}
	fmt.Fprintf(b, "# pushagent load run, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(b, "- machine: %d CPUs (nproc %d), %s, Linux %s; shared and busy with other work, so figures are noisy\n",
		runtime.NumCPU(), nproc(), model, strings.TrimSpace(string(kernel)))
	fmt.Fprintf(b, "- %s; agent: %s\n", goVersion, agentVersion)
	fmt.Fprintf(b, "- command: `go run ./internal/loadrun %s`\n\n", strings.Join(quoteArgs(os.Args[1:]), " "))
}

func nproc() int {
	if out, err := exec.Command("nproc").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil {
			return n
		}
	}
	return runtime.NumCPU()
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t\"'$") {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return out
}

// parseLevels parses the comma-separated positive numbers of flag.
func parseLevels(s, flag, unit string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q is not a positive number of %s", flag, f, unit)
		}
		out = append(out, n)
	}
	return out, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s loadrun: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func sleepUntil(ctx context.Context, t time.Time) bool { return sleepCtx(ctx, time.Until(t)) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func minOf(xs []float64) float64 { return slices.Min(xs) }
func maxOf(xs []float64) float64 { return slices.Max(xs) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "`", "'")
	return strings.ReplaceAll(s, "\n", " ")
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, " | ")
}
