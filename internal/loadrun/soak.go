package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// soakOpts are the soak scenario's flags: its timings can be scaled down
// (a 6-minute run with 3-minute outage periods) without changing its shape.
type soakOpts struct {
	duration, outageEvery, outageFor, reloadEvery, sampleEvery, settle, grace time.Duration
	runs, series                                                              int
	hostile                                                                   string // directory of the built hostile plugins
	pushgateway, victoria                                                     string // binaries; empty: Debian's on PATH
}

// soakHostile are the hostile plugins of the soak's hostile job, built
// from agent/testdata/hostile/<name>.wat, with what each collector is
// allowed: the hostile suite's limits, so that each fails fast.
var soakHostile = []collectorSpec{
	{name: "loop", timeout: "300ms"},                             // spins until the deadline
	{name: "unreachable", timeout: "300ms"},                      // traps
	{name: "stdout_flood", timeout: "300ms", maxOutput: "64KiB"}, // floods stdout
	{name: "alloc", timeout: "300ms", memLimit: "4MiB"},          // grows memory to its limit
	{name: "sleep", timeout: "300ms"},                            // sleeps 120 s in one call
}

// soakWindow is a span of the run, from its start.
type soakWindow struct{ from, to time.Duration }

// soakSample is the minute-by-minute record.
type soakSample struct {
	at         time.Duration
	rssMiB     float64 // process_resident_memory_bytes
	goroutines float64 // go_goroutines
	runsPerSec float64 // collector runs/s since the previous sample
	vmBuffer   float64 // bytes in the VictoriaMetrics output's disk buffer
	outage     bool
}

// soakRun is what the soak measured; soakChecks judges it.
type soakRun struct {
	opts                soakOpts
	jobs, perJob        int
	samples             []soakSample
	outages             []soakWindow
	reloads, reloadsOK  int
	failIn, failOut     map[string]float64 // "output reason" → failed pushes
	collectorFailures   float64
	runs                float64
	skipped             int64
	sent, failed        float64 // VictoriaMetrics output, after the drain
	dropped, leftBytes  float64
	drained             bool
	stored              float64 // samples VictoriaMetrics holds
	subsetSeries        int
	subsetSamples       int
	subsetDup           int // samples of the subset stored with a timestamp already stored
	excerpt             []string
	err                 error
	pgwVersion, vmVersn string
}

// buffered is what the agent took into the VictoriaMetrics output's disk
// buffer: every sample it delivered, failed or dropped; after a full
// drain nothing else is left in it.
func (r *soakRun) buffered() float64 { return r.sent + r.failed + r.dropped }

type soakCheck struct {
	name, target, got string
	ok                bool
}

// soakChecks holds the run to the soak's targets. settle is the part of
// the run RSS and goroutines are not judged on (the agent warming up).
func soakChecks(r *soakRun) []soakCheck {
	var out []soakCheck
	var steady []soakSample
	for _, s := range r.samples {
		if s.at >= r.opts.settle {
			steady = append(steady, s)
		}
	}
	if len(steady) < 2 {
		out = append(out,
			soakCheck{name: "RSS drift after the settle time", target: "≤ 5 %", got: fmt.Sprintf("%d samples after %s: too few to judge", len(steady), r.opts.settle)},
			soakCheck{name: "goroutines flat after the settle time", target: "end ≤ start + max(10, 10 %)", got: "too few samples"})
	} else {
		rss := func(s soakSample) float64 { return s.rssMiB }
		gor := func(s soakSample) float64 { return s.goroutines }
		r0, r1 := edgeMedians(steady, rss)
		drift := (r1 - r0) / r0 * 100
		out = append(out, soakCheck{name: "RSS drift after the settle time", target: "≤ 5 %",
			got: fmt.Sprintf("%.1f → %.1f MiB (%+.1f %%)", r0, r1, drift), ok: r0 > 0 && drift <= 5})
		g0, g1 := edgeMedians(steady, gor)
		out = append(out, soakCheck{name: "goroutines flat after the settle time", target: "end ≤ start + max(10, 10 %)",
			got: fmt.Sprintf("%.0f → %.0f", g0, g1), ok: g1 <= g0+max(10, g0/10)})
	}
	lost := r.buffered() - r.stored
	if !r.drained {
		out = append(out, soakCheck{name: "samples lost", target: "0", got: fmt.Sprintf("buffer not drained (%.0f bytes left): cannot tell", r.leftBytes)})
	} else {
		out = append(out, soakCheck{name: "samples lost", target: "0",
			got: fmt.Sprintf("%.0f buffered, %.0f stored, %.0f failed, %.0f dropped: %.0f lost", r.buffered(), r.stored, r.failed, r.dropped, max(0, lost)+r.failed+r.dropped),
			ok:  lost <= 0 && r.failed == 0 && r.dropped == 0})
	}
	out = append(out, soakCheck{name: "samples stored twice", target: "0",
		got: fmt.Sprintf("%.0f more stored than buffered; %d of %d samples of %d series exported with a repeated timestamp", max(0, -lost), r.subsetDup, r.subsetSamples, r.subsetSeries),
		ok:  r.drained && lost >= 0 && r.subsetDup == 0 && r.subsetSamples > 0})
	var rates []float64
	for _, s := range r.samples {
		rates = append(rates, s.runsPerSec)
	}
	offered := float64(r.jobs * r.perJob)
	out = append(out, soakCheck{name: "collector runs/s kept up", target: fmt.Sprintf("median ≥ 95 %% of the %.0f offered", offered),
		got: fmt.Sprintf("median %.0f, lowest %.0f", median(rates), minOr0(rates)), ok: len(rates) > 0 && median(rates) >= 0.95*offered})
	var outside float64
	for _, v := range r.failOut {
		outside += v
	}
	out = append(out, soakCheck{name: "push failures outside the outages", target: "0", got: fmt.Sprintf("%.0f", outside), ok: outside == 0})
	out = append(out, soakCheck{name: "config reloads applied", target: "all", got: fmt.Sprintf("%d of %d", r.reloadsOK, r.reloads), ok: r.reloads > 0 && r.reloadsOK == r.reloads})
	return out
}

// edgeMedians is the median of the first three and of the last three
// samples: one GC cycle at either end does not make a drift.
func edgeMedians(ss []soakSample, f func(soakSample) float64) (first, last float64) {
	n := min(3, len(ss)/2)
	var a, b []float64
	for i := 0; i < n; i++ {
		a = append(a, f(ss[i]))
		b = append(b, f(ss[len(ss)-n+i]))
	}
	return median(a), median(b)
}

// outageAt tells whether VictoriaMetrics is meant to be down at t: for
// outageFor in the middle of each outageEvery period.
func (o soakOpts) outageAt(t time.Duration) bool {
	if o.outageFor <= 0 || o.outageEvery <= 0 {
		return false
	}
	off := (o.outageEvery - o.outageFor) / 2
	p := t % o.outageEvery
	return p >= off && p < off+o.outageFor
}

// inOutage tells whether a failure seen between from and to may be the
// outage's: the span touches an outage, or its grace after it.
func inOutage(outages []soakWindow, from, to, grace time.Duration) bool {
	for _, w := range outages {
		end := w.to
		if end == 0 {
			end = to // still down
		}
		if from <= end+grace && to >= w.from {
			return true
		}
	}
	return false
}

func runSoak(ctx context.Context, e *env) *soakRun {
	r := &soakRun{opts: e.soak, failIn: map[string]float64{}, failOut: map[string]float64{}}
	r.err = measureSoak(ctx, e, r)
	if r.err != nil {
		logf("soak: %v", r.err)
	}
	return r
}

func measureSoak(ctx context.Context, e *env, r *soakRun) error {
	o := e.soak
	pgwBin, err := findBinary(o.pushgateway, "prometheus-pushgateway", "pushgateway")
	if err != nil {
		return fmt.Errorf("pushgateway: %w (apt-get install prometheus-pushgateway)", err)
	}
	vmBin, err := findBinary(o.victoria, "victoria-metrics")
	if err != nil {
		return fmt.Errorf("victoria-metrics: %w (apt-get install victoria-metrics)", err)
	}
	r.pgwVersion, r.vmVersn = binaryVersion(pgwBin, "--version"), binaryVersion(vmBin, "-version")
	if out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f", "${Version}", "victoria-metrics").Output(); err == nil && len(out) > 0 {
		// Debian's build prints no version of its own.
		r.vmVersn = "victoria-metrics " + string(out) + " (Debian)"
	}

	pgwAddr, err := freePort()
	if err != nil {
		return err
	}
	pgw, err := startProcess(pgwBin, []string{"--web.listen-address=" + pgwAddr, "--log.level=warn"}, nil)
	if err != nil {
		return err
	}
	defer pgw.stop()
	if err := waitHTTP(ctx, pgw, "http://"+pgwAddr+"/-/ready", time.Minute); err != nil {
		return fmt.Errorf("pushgateway: %w", err)
	}

	// No -dedup.minScrapeInterval: a sample sent twice is stored twice,
	// which is what the soak looks for.
	vmAddr, err := freePort()
	if err != nil {
		return err
	}
	vmData := filepath.Join(e.tmp, "soak-vm")
	vmArgs := []string{"-httpListenAddr=" + vmAddr, "-storageDataPath=" + vmData, "-search.latencyOffset=0s", "-search.disableCache", "-retentionPeriod=1", "-loggerLevel=ERROR"}
	startVM := func() (*child, error) {
		vm, err := startProcess(vmBin, vmArgs, nil)
		if err != nil {
			return nil, err
		}
		if err := waitHTTP(ctx, vm, "http://"+vmAddr+"/health", time.Minute); err != nil {
			vm.kill()
			return nil, fmt.Errorf("victoria-metrics: %w", err)
		}
		return vm, nil
	}
	vm, err := startVM()
	if err != nil {
		return err
	}
	defer func() {
		if vm != nil {
			vm.stop()
		}
	}()

	perJob := e.perJob
	r.jobs, r.perJob = max(1, o.runs/perJob), perJob
	bench := make([]jobSpec, r.jobs)
	for j := range bench {
		bench[j] = jobSpec{name: fmt.Sprintf("soak%03d", j), every: time.Second}
		for c := 0; c < perJob; c++ {
			bench[j].collectors = append(bench[j].collectors, collectorSpec{
				name: fmt.Sprintf("c%02d", c), plugin: e.bench, config: map[string]int{"series": o.series}, timeout: "500ms",
				labels: map[string]string{"c": fmt.Sprintf("%02d", c)},
			})
		}
	}
	hostile := jobSpec{name: "hostile", every: 5 * time.Second}
	hostile.collectors = append(hostile.collectors, collectorSpec{name: "good", plugin: e.bench, config: map[string]int{"series": o.series}, labels: map[string]string{"c": "good"}, timeout: "500ms"})
	for _, h := range soakHostile {
		h.plugin = filepath.Join(o.hostile, h.name+".wasm")
		if _, err := os.Stat(h.plugin); err != nil {
			return fmt.Errorf("-soak-hostile: %w (wat2wasm agent/testdata/hostile/%s.wat)", err, h.name)
		}
		hostile.collectors = append(hostile.collectors, h)
	}
	// The reload adds and removes this job in turn, so that every reload
	// changes something the agent must act on.
	toggled := jobSpec{name: "reloaded", every: 5 * time.Second, collectors: []collectorSpec{{name: "bench", plugin: e.bench, config: map[string]int{"series": o.series}, timeout: "500ms"}}}

	outputs := fmt.Sprintf("outputs:\n  vm:\n    remote_write:\n      url: %q\n      timeout: 5s\n      buffer:\n        dir: %q\n        max_size: 1GiB\n",
		"http://"+vmAddr+"/api/v1/write", filepath.Join(e.tmp, "soak-buffer"))
	cfg := filepath.Join(e.tmp, "soak.yaml")
	write := func(jobs []jobSpec) error {
		// Written aside and renamed, so the agent never reads half a file.
		tmp := cfg + ".new"
		if err := writeConfigWith(tmp, "http://"+pgwAddr, outputs, jobs); err != nil {
			return err
		}
		return os.Rename(tmp, cfg)
	}
	all := append(slices.Clone(bench), hostile)
	if err := write(all); err != nil {
		return err
	}
	a, err := startAgent(e.agent, cfg, filepath.Join(e.tmp, "cache-soak"), true)
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
	if err := a.waitReady(3 * time.Minute); err != nil {
		return err
	}
	metricsURL := "http://" + a.listen + "/metrics"
	logf("soak: %d jobs × %d collectors every 1s (%d runs/s) + hostile job, for %s; VictoriaMetrics down %s every %s; reload every %s",
		r.jobs, perJob, r.jobs*perJob, o.duration, o.outageFor, o.outageEvery, o.reloadEvery)

	start := time.Now()
	prev, err := soakScrape(ctx, metricsURL)
	if err != nil {
		return err
	}
	prevAt, lastSample := time.Duration(0), time.Duration(0)
	lastSampleRuns := prev["pushagent_collector_runs_total"]
	var reloadWritten time.Time
	withToggle := false
	nextReload, nextSample := o.reloadEvery, o.sampleEvery
	for {
		if !sleepCtx(ctx, time.Second) {
			return ctx.Err()
		}
		if a.exited() {
			return fmt.Errorf("agent exited during the soak: %v", a.waitErr)
		}
		now := time.Since(start)
		if now >= o.duration {
			break
		}
		down := o.outageAt(now)
		switch {
		case down && vm != nil:
			logf("soak %s: stopping VictoriaMetrics", now.Round(time.Second))
			r.outages = append(r.outages, soakWindow{from: now})
			if err := vm.stop(); err != nil {
				logf("stopping VictoriaMetrics: %v", err)
			}
			vm = nil
		case !down && vm == nil:
			logf("soak %s: starting VictoriaMetrics", now.Round(time.Second))
			if vm, err = startVM(); err != nil {
				return err
			}
			r.outages[len(r.outages)-1].to = time.Since(start)
		}
		if now >= nextReload {
			nextReload += o.reloadEvery
			withToggle = !withToggle
			jobs := all
			if withToggle {
				jobs = append(slices.Clone(all), toggled)
			}
			if err := write(jobs); err != nil {
				return err
			}
			reloadWritten = time.Now()
			r.reloads++
		}
		if now-prevAt < 5*time.Second && now < nextSample {
			continue
		}
		cur, err := soakScrape(ctx, metricsURL)
		if err != nil {
			logf("soak %s: %v", now.Round(time.Second), err)
			continue
		}
		for k, v := range cur {
			if !strings.HasPrefix(k, "pushagent_push_failures_total ") {
				continue
			}
			if d := v - prev[k]; d > 0 {
				k = strings.TrimPrefix(k, "pushagent_push_failures_total ")
				if inOutage(r.outages, prevAt, now, o.grace) {
					r.failIn[k] += d
				} else {
					r.failOut[k] += d
					logf("soak %s: %.0f push failures (%s) outside an outage", now.Round(time.Second), d, k)
				}
			}
		}
		// The reload is done when the agent says it succeeded after the
		// file was written.
		if !reloadWritten.IsZero() && cur["pushagent_config_last_reload_success_timestamp_seconds"] >= float64(reloadWritten.Unix()) {
			r.reloadsOK++
			reloadWritten = time.Time{}
		}
		prev, prevAt = cur, now
		if now >= nextSample {
			nextSample += o.sampleEvery
			s := soakSample{at: now, rssMiB: cur["process_resident_memory_bytes"] / (1 << 20), goroutines: cur["go_goroutines"],
				runsPerSec: (cur["pushagent_collector_runs_total"] - lastSampleRuns) / (now - lastSample).Seconds(),
				vmBuffer:   cur["pushagent_output_buffer_bytes vm"], outage: vm == nil}
			lastSample, lastSampleRuns = now, cur["pushagent_collector_runs_total"]
			r.samples = append(r.samples, s)
			logf("soak %s: RSS %.1f MiB, %.0f goroutines, %.0f runs/s, VictoriaMetrics buffer %.0f KiB%s", now.Round(time.Second), s.rssMiB, s.goroutines,
				s.runsPerSec, s.vmBuffer/(1<<10), map[bool]string{true: " (VictoriaMetrics down)"}[s.outage])
		}
	}
	// A reload written in the last seconds is judged before the drain's
	// own reload replaces it.
	for i := 0; i < 15 && !reloadWritten.IsZero(); i++ {
		if cur, err := soakScrape(ctx, metricsURL); err == nil && cur["pushagent_config_last_reload_success_timestamp_seconds"] >= float64(reloadWritten.Unix()) {
			r.reloadsOK++
			reloadWritten = time.Time{}
			break
		}
		sleepCtx(ctx, time.Second)
	}
	if vm == nil {
		logf("soak: starting VictoriaMetrics for the drain")
		if vm, err = startVM(); err != nil {
			return err
		}
		r.outages[len(r.outages)-1].to = time.Since(start)
	}
	end := time.Since(start)
	r.skipped = a.skipped.Load()
	// Before the drain removes the bench jobs, and their series with them.
	r.runs, r.collectorFailures = prev["pushagent_collector_runs_total"], prev["pushagent_collector_failures_total"]

	// Drain: only the hostile job is left, and it pushes to the
	// Pushgateway alone, so that the VictoriaMetrics buffer empties and
	// its counters stop moving.
	hostileOnly := hostile
	hostileOnly.outputs = []string{"gateway"}
	if err := write([]jobSpec{hostileOnly}); err != nil {
		return err
	}
	reloadWritten = time.Now()
	logf("soak: drain: bench jobs removed, waiting for the VictoriaMetrics buffer to empty")
	var last map[string]float64
	stable := 0
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if !sleepCtx(ctx, 2*time.Second) {
			return ctx.Err()
		}
		cur, err := soakScrape(ctx, metricsURL)
		if err != nil {
			logf("soak drain: %v", err)
			continue
		}
		ok := cur["pushagent_config_last_reload_success_timestamp_seconds"] >= float64(reloadWritten.Unix()) &&
			cur["pushagent_output_buffer_bytes vm"] == 0 && last != nil && cur["pushagent_output_samples_sent_total vm"] == last["pushagent_output_samples_sent_total vm"]
		last = cur
		if ok {
			if stable++; stable >= 3 {
				r.drained = true
				break
			}
		} else {
			stable = 0
		}
	}
	if last == nil {
		return fmt.Errorf("no /metrics answer during the drain")
	}
	r.sent, r.failed = last["pushagent_output_samples_sent_total vm"], last["pushagent_output_samples_failed_total vm"]
	r.dropped, r.leftBytes = last["pushagent_output_samples_dropped_total vm"], last["pushagent_output_buffer_bytes vm"]
	for k, v := range last {
		if strings.HasPrefix(k, "pushagent_push_failures_total ") {
			if d := v - prev[k]; d > 0 {
				k = strings.TrimPrefix(k, "pushagent_push_failures_total ")
				if inOutage(r.outages, prevAt, time.Since(start), o.grace) {
					r.failIn[k] += d
				} else {
					r.failOut[k] += d
				}
			}
		}
	}

	// What VictoriaMetrics holds: every sample of the run (the window
	// reaches back past the start), and the raw samples of a subset to
	// find any stored twice.
	window := int((time.Since(start) + 10*time.Minute).Seconds())
	base := "http://" + vmAddr
	for i := 0; i < 5; i++ {
		n, err := vmQueryScalar(ctx, base, fmt.Sprintf(`sum(count_over_time({__name__=~".+"}[%ds]))`, window))
		if err != nil {
			return err
		}
		if n == r.stored && n > 0 {
			break
		}
		r.stored = n
		sleepCtx(ctx, 3*time.Second)
	}
	if r.subsetSeries, r.subsetSamples, r.subsetDup, err = vmExportDups(ctx, base, `bench_value{c="00",i="0"}`, window); err != nil {
		return err
	}
	logf("soak: %s of load; VictoriaMetrics output: %.0f sent, %.0f failed, %.0f dropped; VictoriaMetrics stores %.0f", end.Round(time.Second), r.sent, r.failed, r.dropped, r.stored)
	return nil
}

// soakScrape reads the agent's /metrics: per metric name the sum of its
// samples, and for the push and output metrics also per output (and
// reason), keyed "name output[ reason]".
func soakScrape(ctx context.Context, url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := metricsClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("agent /metrics: %s", resp.Status)
	}
	return parseSoakMetrics(resp.Body)
}

var labelRE = regexp.MustCompile(`(output|reason)="([^"]*)"`)

func parseSoakMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("agent /metrics: bad sample line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("agent /metrics: bad sample line %q", line)
		}
		name, labels, _ := strings.Cut(line[:i], "{")
		out[name] += v
		if strings.HasPrefix(name, "pushagent_push_failures_total") || strings.HasPrefix(name, "pushagent_output_") {
			var output, reason string
			for _, m := range labelRE.FindAllStringSubmatch(labels, -1) {
				if m[1] == "output" {
					output = m[2]
				} else {
					reason = m[2]
				}
			}
			key := name + " " + output
			if reason != "" {
				key += " " + reason
			}
			out[key] += v
		}
	}
	return out, sc.Err()
}

func vmQueryScalar(ctx context.Context, base, q string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("VictoriaMetrics query %s: %w", q, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("VictoriaMetrics query %s: %s: %w", q, resp.Status, err)
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("VictoriaMetrics query %s: %s %s", q, resp.Status, body.Error)
	}
	if len(body.Data.Result) == 0 {
		return 0, nil
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

// vmExportDups exports the raw samples of the series matching match and
// counts those whose timestamp its series already had.
func vmExportDups(ctx context.Context, base, match string, windowSec int) (series, samples, dups int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	q := url.Values{"match[]": {match}, "start": {strconv.FormatInt(time.Now().Add(-time.Duration(windowSec)*time.Second).Unix(), 10)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/export?"+q.Encode(), nil)
	if err != nil {
		return 0, 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("VictoriaMetrics export: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return 0, 0, 0, fmt.Errorf("VictoriaMetrics export: %s: %s", resp.Status, b)
	}
	return countExportDups(resp.Body)
}

// countExportDups reads VictoriaMetrics' JSON-lines export.
func countExportDups(r io.Reader) (series, samples, dups int, err error) {
	dec := json.NewDecoder(r)
	for {
		var line struct {
			Timestamps []int64 `json:"timestamps"`
		}
		if err := dec.Decode(&line); err == io.EOF {
			return series, samples, dups, nil
		} else if err != nil {
			return series, samples, dups, fmt.Errorf("VictoriaMetrics export: %w", err)
		}
		series++
		seen := make(map[int64]bool, len(line.Timestamps))
		for _, t := range line.Timestamps {
			samples++
			if seen[t] {
				dups++
			}
			seen[t] = true
		}
	}
}

func soakSummary(b *strings.Builder, e *env, r *soakRun) {
	o := r.opts
	fmt.Fprintf(b, "## Soak: %s of load, VictoriaMetrics down %s every %s, a config reload every %s\n\n", o.duration, o.outageFor, o.outageEvery, o.reloadEvery)
	fmt.Fprintf(b, "%d jobs × %d benchplugin collectors (%d series each) every 1s (%d collector runs/s offered), plus a job of one good collector and five hostile ones "+
		"(loop, unreachable, stdout_flood, alloc, sleep from agent/testdata/hostile, 300ms timeout) every 5s; every job pushes to a Pushgateway (%s) and remote-writes to VictoriaMetrics (%s, no dedup, so a sample sent twice is stored twice). "+
		"Each reload rewrites the config, adding or removing a job. After the soak the bench jobs are removed and the VictoriaMetrics output drains; "+
		"then the samples it took into its buffer are compared with what VictoriaMetrics stores.\n\n",
		r.jobs, e.perJob, o.series, r.jobs*e.perJob, r.pgwVersion, r.vmVersn)
	if r.err != nil {
		fmt.Fprintf(b, "**Error: %s**\n\n", mdEscape(r.err.Error()))
	}
	b.WriteString("| at | RSS (MiB) | goroutines | collector runs/s | VictoriaMetrics buffer (KiB) | VictoriaMetrics |\n|---:|---:|---:|---:|---:|---|\n")
	for _, s := range r.samples {
		fmt.Fprintf(b, "| %s | %.1f | %.0f | %.0f | %.0f | %s |\n", s.at.Round(time.Second), s.rssMiB, s.goroutines, s.runsPerSec, s.vmBuffer/(1<<10), map[bool]string{true: "down", false: "up"}[s.outage])
	}
	b.WriteString("\n")
	var outs []string
	for _, w := range r.outages {
		outs = append(outs, fmt.Sprintf("%s–%s", w.from.Round(time.Second), w.to.Round(time.Second)))
	}
	fmt.Fprintf(b, "- outages: %s; push failures during them (or within %s after): %s; outside: %s.\n", strings.Join(outs, ", "), o.grace, fmtFailures(r.failIn), fmtFailures(r.failOut))
	fmt.Fprintf(b, "- up to the last sample: %.0f collector runs, %.0f collector failures (the hostile collectors fail every run, by design), %d runs skipped.\n", r.runs, r.collectorFailures, r.skipped)
	fmt.Fprintf(b, "- VictoriaMetrics output: %.0f samples buffered = %.0f delivered + %.0f failed + %.0f dropped; VictoriaMetrics stores %.0f; buffer drained: %s.\n\n",
		r.buffered(), r.sent, r.failed, r.dropped, r.stored, yesNo(r.drained))
	b.WriteString("| check | target | result | pass |\n|---|---|---|---|\n")
	for _, c := range soakChecks(r) {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", c.name, c.target, mdEscape(c.got), yesNo(c.ok))
	}
	b.WriteString("\n")
	if len(r.excerpt) > 0 {
		fmt.Fprintf(b, "- agent log excerpt: `%s`\n\n", mdEscape(strings.Join(r.excerpt, " ⏎ ")))
	}
}

func minOr0(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return slices.Min(xs)
}

func fmtFailures(m map[string]float64) string {
	if len(m) == 0 {
		return "none"
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%.0f (%s)", m[k], k))
	}
	return strings.Join(out, ", ")
}
