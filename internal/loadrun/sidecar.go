package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// The sidecar scenario runs the agent on the bundled schedules.yaml beside
// what users run today for the same job, all at the same time, and
// compares their steady footprint: node_exporter scraped as Prometheus
// would, vmagent scraping a node_exporter and remote-writing it, and
// barepush, a client_golang push loop.

// peer is one process of the sidecar run.
type peer struct {
	name    string // the table's process column
	role    string // what it does each interval, one line
	bin     string
	args    []string
	env     []string
	missing string // why it did not run, e.g. not installed
	target  bool   // vmagent's node_exporter: only in the breakdown
	listen  string // host:port it serves on, "" when none

	s        *sampled
	readyErr error   // set by its readiness check
	series   float64 // series it handles per interval; -1 unknown
	notes    []string
}

func (pe *peer) running() bool { return pe.s != nil && pe.s.p != nil }

// sidecarRun is the whole scenario's outcome.
type sidecarRun struct {
	every     time.Duration // the bundled config's job interval, used for every peer
	jobs      []string      // the bundled config's job names
	plugins   []string
	textDir   string
	peers     []*peer
	remote    int64 // remote_write POSTs the sink got during the run
	undecoded int
	err       error // the scenario could not run at all
}

// resolveSchedules reads a schedules.yaml and makes it runnable from
// another directory: each plugin path becomes the file of the same name in
// pluginsDir, and each relative mount becomes absolute against the
// config's own directory (the config's rule for relative paths). It also
// returns the job names, the shortest job interval and the plugins used.
func resolveSchedules(path, pluginsDir string) (out []byte, jobs []string, every time.Duration, plugins []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, 0, nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) != 1 {
		return nil, nil, 0, nil, fmt.Errorf("%s: not one YAML document", path)
	}
	base := filepath.Dir(path)
	jobsNode := mapValue(doc.Content[0], "jobs")
	if jobsNode == nil || jobsNode.Kind != yaml.SequenceNode {
		return nil, nil, 0, nil, fmt.Errorf("%s: no jobs list", path)
	}
	for _, j := range jobsNode.Content {
		if n := mapValue(j, "name"); n != nil {
			jobs = append(jobs, n.Value)
		}
		if n := mapValue(j, "every"); n != nil {
			d, err := time.ParseDuration(n.Value)
			if err != nil {
				return nil, nil, 0, nil, fmt.Errorf("%s: job every %q: %w", path, n.Value, err)
			}
			if every == 0 || d < every {
				every = d
			}
		}
		cs := mapValue(j, "collectors")
		if cs == nil {
			continue
		}
		for _, c := range cs.Content {
			if p := mapValue(c, "plugin"); p != nil && p.Value != "" {
				p.Value = filepath.Join(pluginsDir, filepath.Base(p.Value))
				plugins = append(plugins, p.Value)
			}
			if m := mapValue(c, "mounts"); m != nil && m.Kind == yaml.MappingNode {
				for i := 1; i < len(m.Content); i += 2 {
					if host := m.Content[i]; !filepath.IsAbs(host.Value) {
						host.Value = filepath.Join(base, host.Value)
					}
				}
			}
		}
	}
	if every == 0 {
		return nil, nil, 0, nil, fmt.Errorf("%s: no job has an every interval", path)
	}
	out, err = yaml.Marshal(&doc)
	if err != nil {
		return nil, nil, 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, jobs, every, plugins, nil
}

// mapValue is the value of key in mapping node n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// findBinary is flagValue made absolute, or else the first of names found
// on PATH or in /usr/bin, where the Debian packages install them.
func findBinary(flagValue string, names ...string) (string, error) {
	if flagValue != "" {
		abs, err := filepath.Abs(flagValue)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", err
		}
		return abs, nil
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
		if p := filepath.Join("/usr/bin", name); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("none of %s found on PATH", strings.Join(names, ", "))
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// binaryVersion is the first line a binary prints for its version flag.
func binaryVersion(bin, flag string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, flag).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" {
		return "version not reported"
	}
	return line
}

func runSidecar(ctx context.Context, e *env) *sidecarRun {
	r := &sidecarRun{}
	e.sink.forget()
	e.sink.decode.Store(true)
	defer e.sink.decode.Store(false)

	data, jobs, every, plugins, err := resolveSchedules(e.schedules, e.plugins)
	if err != nil {
		r.err = err
		return r
	}
	r.jobs, r.every, r.plugins = jobs, every, plugins
	for _, p := range plugins {
		if _, err := os.Stat(p); err != nil {
			r.err = fmt.Errorf("the bundled config's plugin: %w (run make build)", err)
			return r
		}
	}
	r.textDir = filepath.Join(filepath.Dir(e.schedules), "examples", "textfile")
	if _, err := os.Stat(r.textDir); err != nil {
		r.err = fmt.Errorf("the textfile directory node_exporter reads: %w", err)
		return r
	}
	cfg := filepath.Join(e.tmp, "sidecar-schedules.yaml")
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		r.err = err
		return r
	}
	gwEnv := []string{"PUSHGATEWAY_URL=" + e.sink.url("")}
	cache := filepath.Join(e.tmp, "cache-sidecar")
	vctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	vcmd := exec.CommandContext(vctx, e.agent, "validate", "--config", cfg, "--cache-dir", cache)
	vcmd.Env = append(os.Environ(), gwEnv...)
	out, err := vcmd.CombinedOutput()
	cancel()
	if err != nil {
		r.err = fmt.Errorf("pushagent validate: %v: %s", err, firstLines(string(out), 5))
		return r
	}

	agent := &peer{name: "pushagent", bin: e.agent, env: gwEnv,
		role: fmt.Sprintf("runs the bundled schedules.yaml (jobs %s) and pushes to the sink", strings.Join(jobs, ", "))}
	agent.listen, _ = freePort()
	agent.args = []string{"run", "--config", cfg, "--cache-dir", cache, "--listen", agent.listen, "--log-level", "warn"}

	ne := &peer{name: "node_exporter", role: fmt.Sprintf("serves /metrics; loadrun scrapes it every %s, as Prometheus would", every)}
	vmTarget := &peer{name: "node_exporter (vmagent's target)", target: true, role: "the same, scraped by vmagent"}
	if bin, err := findBinary(e.nodeExporter, "prometheus-node-exporter", "node_exporter"); err != nil {
		ne.missing = "not installed (apt-get install prometheus-node-exporter)"
		vmTarget.missing = ne.missing
	} else {
		for _, pe := range []*peer{ne, vmTarget} {
			pe.bin = bin
			pe.listen, _ = freePort()
			pe.args = []string{"--web.listen-address=" + pe.listen, "--collector.textfile.directory=" + r.textDir}
		}
	}

	vm := &peer{name: "vmagent", role: fmt.Sprintf("scrapes its own node_exporter every %s and remote-writes to the sink", every)}
	if bin, err := findBinary(e.vmagent, "vmagent"); err != nil {
		vm.missing = "not installed (apt-get install victoria-metrics)"
	} else if ne.missing != "" {
		vm.missing = "not run: its scrape target, node_exporter, is not installed (apt-get install prometheus-node-exporter)"
	} else {
		vm.bin = bin
		vm.listen, _ = freePort()
		scrapeCfg := filepath.Join(e.tmp, "vmagent-scrape.yaml")
		text := fmt.Sprintf("global:\n  scrape_interval: %s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: [%q]\n", every, vmTarget.listen)
		if err := os.WriteFile(scrapeCfg, []byte(text), 0o644); err != nil {
			vm.missing = err.Error()
		}
		vm.args = []string{"-promscrape.config=" + scrapeCfg, "-remoteWrite.url=" + e.sink.url("/api/v1/write"),
			"-remoteWrite.tmpDataPath=" + filepath.Join(e.tmp, "vmagent-data"), "-httpListenAddr=" + vm.listen}
	}

	bare := &peer{name: "barepush", role: fmt.Sprintf("client_golang registry (Go and process collectors, one gauge) pushed to the sink every %s", every)}
	if bin, err := barepushBinary(ctx, e); err != nil {
		bare.missing = err.Error()
	} else {
		bare.bin = bin
		bare.args = []string{"-url", e.sink.url(""), "-every", every.String(), "-job", "barepush"}
	}
	// vmagent's target starts before vmagent, so its first scrape succeeds.
	r.peers = []*peer{agent, ne, vmTarget, vm, bare}

	logf("sidecar: %s, node_exporter, vmagent and barepush at the same time, every %s, sampling for %s", filepath.Base(e.schedules), every, e.sideDuration)
	remote0 := e.sink.remoteWrites.Load()
	for _, pe := range r.peers {
		if pe.missing != "" {
			logf("  %s: %s", pe.name, pe.missing)
			continue
		}
		p, err := startProcess(pe.bin, pe.args, pe.env)
		if err != nil {
			pe.missing = err.Error()
			continue
		}
		p.listen = pe.listen
		pe.s = &sampled{name: pe.name, p: p}
	}
	defer func() {
		// vmagent first, so that it does not log its target going away.
		for _, pe := range []*peer{vm, agent, bare, ne, vmTarget} {
			if pe.running() && !pe.s.p.exited() {
				if err := pe.s.p.stop(); err != nil {
					pe.notes = append(pe.notes, fmt.Sprintf("on stop: %v", err))
				}
			}
		}
	}()
	start := time.Now()

	// Readiness checks and node_exporter's scrapes run beside the sampling,
	// which counts from process start.
	sctx, stopScrapes := context.WithCancel(ctx)
	var wg sync.WaitGroup
	ready := func(pe *peer, path string) {
		if !pe.running() {
			return
		}
		wg.Go(func() {
			if path == "/healthz" {
				pe.readyErr = pe.s.p.waitReady(time.Minute)
			} else {
				pe.readyErr = waitHTTP(sctx, pe.s.p, "http://"+pe.listen+path, time.Minute)
			}
		})
	}
	ready(agent, "/healthz")
	ready(vmTarget, "/metrics")
	ready(vm, "/health")
	var neScrapes, neErrs int
	var neSeries = -1
	var neLastErr error
	if ne.running() {
		wg.Go(func() {
			if ne.readyErr = waitHTTP(sctx, ne.s.p, "http://"+ne.listen+"/metrics", time.Minute); ne.readyErr != nil {
				return
			}
			for next := time.Now(); sleepUntil(sctx, next); next = next.Add(every) {
				n, _, err := fetchMetrics(sctx, "http://"+ne.listen+"/metrics")
				if sctx.Err() != nil {
					return
				}
				if err != nil {
					neErrs++
					neLastErr = err
					continue
				}
				neScrapes++
				if neSeries < 0 {
					neSeries = n
				}
			}
		})
	}
	var sampledProcs []*sampled
	for _, pe := range r.peers {
		if pe.running() {
			sampledProcs = append(sampledProcs, pe.s)
		}
	}
	err = sampleSteady(ctx, sampledProcs, start, e.sideDuration, e.sideSettle, e.rssCapMiB)
	stopScrapes()
	wg.Wait()
	if err != nil {
		r.err = err
		return r
	}

	for _, pe := range r.peers {
		pe.series = -1
		if pe.readyErr != nil {
			pe.notes = append(pe.notes, "not ready: "+pe.readyErr.Error())
		}
	}
	mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if agent.running() {
		var sum float64
		var missing []string
		for _, j := range jobs {
			n := e.sink.lastSeries(j)
			if n < 0 {
				missing = append(missing, j)
				continue
			}
			sum += float64(n)
			agent.notes = append(agent.notes, fmt.Sprintf("job %s: %d pushes of %d series", j, e.sink.pushesOf(j), n))
		}
		if len(missing) == 0 {
			agent.series = sum
		} else {
			agent.notes = append(agent.notes, "no push reached the sink from job "+strings.Join(missing, ", "))
		}
		if m, err := agent.s.p.scrape(mctx); err != nil {
			agent.notes = append(agent.notes, err.Error())
		} else {
			agent.notes = append(agent.notes, fmt.Sprintf("its /metrics: %.0f collector runs, %.0f failures, %.0f push failures; pushagent_collector_last_samples sums to %.0f",
				m.runs, m.failures, m.pushFailures, m.lastSamples))
		}
		// What the anonymous writable memory is made of, as the agent
		// sees it: the Go heap, and the wasm memory its warm instances hold.
		if _, sums, err := fetchMetrics(mctx, "http://"+agent.listen+"/metrics"); err == nil {
			if heap, ok := sums["go_memstats_heap_inuse_bytes"]; ok {
				agent.notes = append(agent.notes, fmt.Sprintf("at the end: Go heap in use %.1f MiB of %.1f MiB the Go runtime holds from the OS; %.0f warm plugin instances whose linear memory is %.1f MiB",
					heap/(1<<20), sums["go_memstats_sys_bytes"]/(1<<20), sums["pushagent_plugin_warm_instances"], sums["pushagent_plugin_memory_pages"]/16))
			}
		}
	}
	if ne.running() {
		ne.series = float64(neSeries)
		ne.notes = append(ne.notes, fmt.Sprintf("%d scrapes by loadrun, %d failed", neScrapes, neErrs))
		if neLastErr != nil {
			ne.notes = append(ne.notes, "last scrape error: "+neLastErr.Error())
		}
	}
	if vm.running() {
		if _, sums, err := fetchMetrics(mctx, "http://"+vm.listen+"/metrics"); err != nil {
			vm.notes = append(vm.notes, err.Error())
		} else {
			rows, scrapes := sums["vmagent_remotewrite_global_rows_pushed_before_relabel_total"], sums["vm_promscrape_scraped_samples_count"]
			if scrapes > 0 {
				vm.series = rows / scrapes
			}
			r.remote = e.sink.remoteWrites.Load() - remote0
			vm.notes = append(vm.notes, fmt.Sprintf("%.0f scrapes, %.0f rows forwarded in %d remote_write requests to the sink; series = rows per scrape (the target's samples plus the scrape's own up, scrape_* series)",
				scrapes, rows, r.remote))
		}
	}
	if bare.running() {
		if n := e.sink.lastSeries("barepush"); n >= 0 {
			bare.series = float64(n)
			bare.notes = append(bare.notes, fmt.Sprintf("%d pushes of %d series", e.sink.pushesOf("barepush"), n))
		} else {
			bare.notes = append(bare.notes, "no push reached the sink")
		}
	}
	r.undecoded = e.sink.undecoded()
	for _, pe := range r.peers {
		if pe.running() && pe.s.err == nil {
			logf("  %s: steady %.1f MiB, VmHWM %.1f MiB, %s cores, %s series", pe.name, pe.s.steady, pe.s.hwm, cores4(pe.s.cpu), count(pe.series))
		}
	}
	return r
}

// barepushBinary is -barepush, or internal/barepush built into the temp
// directory (loadrun runs from the repository root).
func barepushBinary(ctx context.Context, e *env) (string, error) {
	if e.barepush != "" {
		return e.barepush, nil
	}
	out := filepath.Join(e.tmp, "barepush")
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if b, err := exec.CommandContext(bctx, "go", "build", "-trimpath", "-o", out, "./internal/barepush").CombinedOutput(); err != nil {
		return "", fmt.Errorf("could not build ./internal/barepush (run loadrun from the repository root, or pass -barepush): %v: %s", err, firstLines(string(b), 3))
	}
	return out, nil
}

// waitHTTP polls url until it answers 200, p exits, or timeout passes.
func waitHTTP(ctx context.Context, p *child, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("exited during startup: %v; log: %s", p.waitErr, strings.Join(p.logExcerpt(), " | "))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("%s did not answer 200 within %s", url, timeout)
}

// fetchMetrics GETs a Prometheus text page and returns its number of
// samples and, per metric name, the sum of its samples' values.
func fetchMetrics(ctx context.Context, url string) (samples int, sums map[string]float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := metricsClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	samples, sums, err = parseTextSamples(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return samples, sums, nil
}

// parseTextSamples counts the samples of a Prometheus text page and sums
// their values per metric name. It is lenient (no HELP/TYPE checks): it
// only counts what a scraper would store.
func parseTextSamples(r io.Reader) (samples int, sums map[string]float64, err error) {
	sums = map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := line, "", false
		if i := strings.IndexByte(line, '{'); i >= 0 {
			if j := strings.LastIndexByte(line, '}'); j > i {
				name, rest, ok = line[:i], line[j+1:], true
			}
		} else {
			name, rest, ok = strings.Cut(line, " ")
		}
		f := strings.Fields(rest)
		if !ok || len(f) == 0 {
			return 0, nil, fmt.Errorf("bad sample line %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, nil, fmt.Errorf("bad sample line %q", line)
		}
		samples++
		sums[name] += v
	}
	if err := sc.Err(); err != nil {
		return 0, nil, err
	}
	return samples, sums, nil
}

func sidecarSummary(b *strings.Builder, e *env, r *sidecarRun) {
	fmt.Fprintf(b, "## 4. Sidecar footprint: the agent on the bundled schedules.yaml vs node_exporter, vmagent and a client_golang push loop\n\n")
	if r.err != nil && len(r.peers) == 0 {
		fmt.Fprintf(b, "Error: %s\n\n", mdEscape(r.err.Error()))
		return
	}
	fmt.Fprintf(b, "All processes run at the same time for %s on this machine, each doing its job every %s (the bundled config's interval). "+
		"VmRSS from /proc/<pid>/status every second from process start; steady = median of the samples from %s on; VmHWM at the end; "+
		"CPU = time its threads ran over the steady window (/proc/<pid>/task/*/schedstat, in ns: utime+stime's 10 ms ticks are too coarse here). Series = what it handles each interval: pushed (counted by the sink, which decodes every push), "+
		"served (node_exporter: samples on one scrape) or forwarded (vmagent). Ratios are to node_exporter from the same run.\n\n",
		e.sideDuration, r.every, e.sideSettle)
	var base *peer
	for _, pe := range r.peers {
		if pe.name == "node_exporter" && pe.running() && pe.s.err == nil {
			base = pe
		}
	}
	ratio := func(v, ref float64) string {
		if ref <= 0 || v < 0 {
			return ""
		}
		return fmt.Sprintf(" (%.2f×)", v/ref)
	}
	b.WriteString("| process | steady VmRSS median, MiB (× node_exporter) | VmHWM, MiB (×) | CPU, cores (×) | series (×) |\n")
	b.WriteString("|---|---:|---:|---:|---:|\n")
	for _, pe := range r.peers {
		if pe.target {
			continue
		}
		switch {
		case pe.missing != "":
			fmt.Fprintf(b, "| %s | %s | | | |\n", pe.name, mdEscape(pe.missing))
		case pe.s.err != nil:
			fmt.Fprintf(b, "| %s | error: %s | | | |\n", pe.name, mdEscape(pe.s.err.Error()))
		case pe.s.capped != "":
			fmt.Fprintf(b, "| %s | > %d (%s) | %.1f | | |\n", pe.name, e.rssCapMiB, pe.s.capped, pe.s.hwm)
		default:
			var rss, hwm, cpu, series float64 = -1, -1, -1, -1
			if base != nil {
				rss, hwm, cpu, series = base.s.steady, base.s.hwm, base.s.cpu, base.series
			}
			fmt.Fprintf(b, "| %s | %.1f%s | %.1f%s | %s%s | %s%s |\n", pe.name,
				pe.s.steady, ratio(pe.s.steady, rss), pe.s.hwm, ratio(pe.s.hwm, hwm),
				cores4(pe.s.cpu), ratio(pe.s.cpu, cpu), count(pe.series), ratio(pe.series, series))
		}
	}
	b.WriteString("\n")
	b.WriteString("Where the resident memory is, from /proc/<pid>/smaps at the end (Rss of each mapping, MiB): anonymous writable is the Go heap, " +
		"stacks and wasm linear memory; anonymous executable is machine code compiled from wasm (a Go binary has none of its own); file-backed is the binary's pages.\n\n")
	b.WriteString("| process | VmRSS at end | smaps Rss sum | anon rw | anon exec | anon other | file-backed |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, pe := range r.peers {
		if !pe.running() || pe.s.err != nil || pe.s.capped != "" {
			continue
		}
		if pe.s.memErr != nil {
			fmt.Fprintf(b, "| %s | error: %s | | | | | |\n", pe.name, mdEscape(pe.s.memErr.Error()))
			continue
		}
		last := 0.0
		if len(pe.s.rss) > 0 {
			last = pe.s.rss[len(pe.s.rss)-1]
		}
		m := pe.s.mem
		fmt.Fprintf(b, "| %s | %.1f | %s | %s | %s | %s | %s |\n", pe.name, last, mib(m.total()), mib(m.anonRW), mib(m.anonExec), mib(m.anonOther), mib(m.file))
	}
	b.WriteString("\n")
	var tgt, vm *peer
	for _, pe := range r.peers {
		switch pe.name {
		case "vmagent":
			vm = pe
		}
		if pe.target {
			tgt = pe
		}
	}
	if vm != nil && tgt != nil && vm.running() && tgt.running() && vm.s.err == nil && tgt.s.err == nil {
		fmt.Fprintf(b, "- Forwarding node metrics with vmagent takes both processes: %.1f MiB steady (vmagent %.1f + its node_exporter %.1f), %s cores.\n",
			vm.s.steady+tgt.s.steady, vm.s.steady, tgt.s.steady, cores4(vm.s.cpu+tgt.s.cpu))
	}
	if r.err != nil {
		fmt.Fprintf(b, "- error: %s\n", mdEscape(r.err.Error()))
	}
	if r.undecoded > 0 {
		fmt.Fprintf(b, "- %d pushes did not decode at the sink.\n", r.undecoded)
	}
	for _, pe := range r.peers {
		for _, n := range pe.notes {
			fmt.Fprintf(b, "- %s: %s\n", pe.name, mdEscape(n))
		}
		if pe.running() && (pe.s.err != nil || pe.readyErr != nil) {
			if ex := pe.s.p.logExcerpt(); len(ex) > 0 {
				fmt.Fprintf(b, "- %s log excerpt: `%s`\n", pe.name, mdEscape(strings.Join(ex, " ⏎ ")))
			}
		}
	}
	for _, pe := range r.peers {
		if len(pe.s.rssOrNil()) > 0 {
			fmt.Fprintf(b, "- %s, VmRSS every 10 s (MiB): %s\n", pe.name, everyNth(pe.s.rss, 10))
		}
	}
	b.WriteString("\nSetup (`$TMP` is loadrun's temporary directory):\n\n")
	for _, pe := range r.peers {
		if pe.bin == "" {
			continue
		}
		fmt.Fprintf(b, "- %s: %s. `%s`", pe.name, pe.role, mdEscape(e.untmp(strings.Join(append([]string{pe.bin}, quoteArgs(pe.args)...), " "))))
		if len(pe.env) > 0 {
			fmt.Fprintf(b, " with `%s`", mdEscape(e.untmp(strings.Join(pe.env, " "))))
		}
		if pe.name == "node_exporter" || pe.name == "vmagent" {
			fmt.Fprintf(b, " (%s)", mdEscape(binaryVersion(pe.bin, "--version")))
		}
		b.WriteString("\n")
	}
	var sizes []string
	for _, p := range r.plugins {
		if fi, err := os.Stat(p); err == nil {
			sizes = append(sizes, fmt.Sprintf("%s %.1f MiB", filepath.Base(p), float64(fi.Size())/(1<<20)))
		}
	}
	fmt.Fprintf(b, "- the agent's config is %s with each plugin path pointed at `-plugins` (%s) and each relative mount made absolute; "+
		"compile cache warmed by `pushagent validate` first. node_exporter reads %s with its textfile collector, as the agent's textfile job does.\n\n",
		e.schedules, strings.Join(sizes, ", "), r.textDir)
}

func (s *sampled) rssOrNil() []float64 {
	if s == nil {
		return nil
	}
	return s.rss
}

// cores4 formats cores with the precision a process idling at a 10 s
// interval needs.
func cores4(v float64) string {
	if v < 0 {
		return "?"
	}
	return fmt.Sprintf("%.4f", v)
}

// untmp replaces the temporary directory in s with $TMP.
func (e *env) untmp(s string) string { return strings.ReplaceAll(s, e.tmp, "$TMP") }
