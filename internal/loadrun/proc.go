package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports.
const clockTicks = 100

// child is one process loadrun started: `pushagent run`, or a peer the
// sidecar scenario compares it with.
type child struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time
	listen  string // host:port of --listen, "" when off

	skipped      atomic.Int64 // "run skipped" log lines
	collectorErr atomic.Int64 // "collector failed" log lines
	pushErr      atomic.Int64 // "push failed" log lines

	mu    sync.Mutex
	first []string // the first other log lines, for diagnosis
	last  []string // the last other log lines

	done    chan struct{}
	waitErr error
}

// keepLines is how many log lines are kept from the start and the end of a
// run; each is cut to maxLine bytes, so the summary stays readable.
const (
	keepLines = 2
	maxLine   = 300
)

// startAgent runs `agent run --config cfg --cache-dir cache --log-level warn`,
// with --listen on a free 127.0.0.1 port when listen is true. env, when
// not nil, is added to loadrun's own environment.
func startAgent(bin, cfg, cacheDir string, listen bool, env ...string) (*child, error) {
	args := []string{"run", "--config", cfg, "--cache-dir", cacheDir, "--log-level", "warn", "--shutdown-grace", "3s"}
	addr := ""
	if listen {
		var err error
		if addr, err = freePort(); err != nil {
			return nil, err
		}
		args = append(args, "--listen", addr)
	}
	a, err := startProcess(bin, args, env)
	if a != nil {
		a.listen = addr
	}
	return a, err
}

// startProcess runs bin with args and loadrun's environment plus env. Its
// stdout is discarded; its stderr is scanned (see scan).
func startProcess(bin string, args, env []string) (*child, error) {
	a := &child{done: make(chan struct{})}
	a.cmd = exec.Command(bin, args...)
	if env != nil {
		a.cmd.Env = append(os.Environ(), env...)
	}
	a.cmd.Stdout = io.Discard
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	a.started = time.Now()
	if err := a.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	a.pid = a.cmd.Process.Pid
	go func() {
		a.scan(stderr)
		a.waitErr = a.cmd.Wait()
		close(a.done)
	}()
	return a, nil
}

func (a *child) scan(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "run skipped"):
			a.skipped.Add(1)
			continue
		case strings.Contains(line, "collector failed"):
			a.collectorErr.Add(1)
		case strings.Contains(line, "push failed"):
			a.pushErr.Add(1)
		}
		if len(line) > maxLine {
			line = line[:maxLine] + "…"
		}
		a.mu.Lock()
		if len(a.first) < keepLines {
			a.first = append(a.first, line)
		} else {
			a.last = append(a.last, line)
			if len(a.last) > keepLines {
				a.last = a.last[1:]
			}
		}
		a.mu.Unlock()
	}
	// Keep draining so the agent never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

// logExcerpt is the first and last log lines that were not skip notices.
func (a *child) logExcerpt() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := append([]string(nil), a.first...)
	if len(a.last) > 0 {
		out = append(out, "…")
		out = append(out, a.last...)
	}
	return out
}

func (a *child) exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to 15 s, then kills. It returns how the
// process ended.
func (a *child) stop() error {
	if a.exited() {
		return fmt.Errorf("%s had already exited: %v", filepath.Base(a.cmd.Path), a.waitErr)
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		// A program without a SIGTERM handler (node_exporter) ends by the
		// signal itself: that is how it stops, not a failure.
		var ee *exec.ExitError
		if errors.As(a.waitErr, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
				return nil
			}
		}
		return a.waitErr
	case <-time.After(15 * time.Second):
	}
	_ = a.cmd.Process.Kill()
	select {
	case <-a.done:
	case <-time.After(5 * time.Second):
	}
	return fmt.Errorf("%s did not stop within 15s of SIGTERM; killed", filepath.Base(a.cmd.Path))
}

func (a *child) kill() {
	_ = a.cmd.Process.Kill()
	select {
	case <-a.done:
	case <-time.After(5 * time.Second):
	}
}

// waitReady polls /healthz until it answers or timeout passes.
func (a *child) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if a.exited() {
			return fmt.Errorf("agent exited during startup: %v; log: %s", a.waitErr, strings.Join(a.logExcerpt(), " | "))
		}
		resp, err := client.Get("http://" + a.listen + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("agent not ready on %s after %s", a.listen, timeout)
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// cpuTicks is utime+stime of pid, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may contain spaces and parentheses; fields after
	// the last ')' are fixed: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return ut + st, nil
}

// cpuTime is the CPU time pid's threads have run, summed from
// /proc/<pid>/task/*/schedstat (nanoseconds, where utime+stime has 10 ms
// ticks: too coarse for a process that works a few milliseconds every
// 10 s). A thread that has exited no longer counts; Go programs rarely
// end threads, and sampleSteady checks against the ticks.
func cpuTime(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // the thread ended meanwhile
			}
			return 0, err
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, fmt.Errorf("%s/%s/schedstat: empty", dir, t.Name())
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s/%s/schedstat: %w", dir, t.Name(), err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// memStatus is VmRSS and VmHWM of pid, in KiB.
func memStatus(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, name, err)
		}
		if name == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
	}
	return rss, hwm, nil
}

// memBreakdown is where a process's resident memory is, summed from the
// Rss of each mapping in /proc/<pid>/smaps (smaps_rollup has no
// per-permission split), in KiB.
type memBreakdown struct {
	anonRW    int64 // anonymous, writable: Go heap and stacks, wasm linear memory
	anonExec  int64 // anonymous, executable: machine code compiled from wasm
	anonOther int64 // anonymous, neither: read-only data, guard pages, [vvar], [vdso]
	file      int64 // file-backed: the binary and any shared libraries
}

func (m memBreakdown) total() int64 { return m.anonRW + m.anonExec + m.anonOther + m.file }

// smapsBreakdown reads /proc/<pid>/smaps.
func smapsBreakdown(pid int) (memBreakdown, error) {
	path := fmt.Sprintf("/proc/%d/smaps", pid)
	f, err := os.Open(path)
	if err != nil {
		return memBreakdown{}, err
	}
	defer f.Close()
	m, err := parseSmaps(f)
	if err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// parseSmaps sums the Rss of each mapping in an smaps file by kind. A
// mapping's header is "start-end perms offset dev inode [path]"; inode 0
// is anonymous memory.
func parseSmaps(r io.Reader) (memBreakdown, error) {
	var m memBreakdown
	var cur *int64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") && strings.Contains(fields[0], "-") && len(fields) >= 5 {
			perms, inode, path := fields[1], fields[4], ""
			if len(fields) >= 6 {
				path = fields[5]
			}
			switch {
			case inode != "0":
				cur = &m.file
			case strings.HasPrefix(path, "[v"): // [vvar], [vdso], [vsyscall]
				cur = &m.anonOther
			case strings.Contains(perms, "x"):
				cur = &m.anonExec
			case len(perms) > 1 && perms[1] == 'w':
				cur = &m.anonRW
			default:
				cur = &m.anonOther
			}
			continue
		}
		if fields[0] == "Rss:" && len(fields) >= 2 && cur != nil {
			n, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return m, fmt.Errorf("%q: %w", sc.Text(), err)
			}
			*cur += n
		}
	}
	return m, sc.Err()
}

// selfMetrics are the sums over all label sets of the agent's own counters
// and of the gauges the summaries need.
type selfMetrics struct {
	runs, failures, pushes, pushFailures float64
	warm                                 float64 // idle reactor instances kept warm (pushagent_plugin_warm_instances)
	warmPages                            float64 // wasm pages they hold (pushagent_plugin_memory_pages)
	lastSamples                          float64 // series the collectors contributed to their last pushes
	bytes                                int
	took                                 time.Duration // request to last byte
	at                                   time.Time     // when the answer's headers arrived
}

var metricsClient = &http.Client{Timeout: 10 * time.Second}

// scrape fetches the agent's /metrics as uncompressed text (so the agent
// spends no CPU on gzip for us) and sums the counters we need by scanning
// lines, which stays cheap with tens of thousands of series.
func (a *child) scrape(ctx context.Context) (selfMetrics, error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.listen+"/metrics", nil)
	if err != nil {
		return selfMetrics{}, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := metricsClient.Do(req)
	if err != nil {
		return selfMetrics{}, fmt.Errorf("agent /metrics: %w", err)
	}
	defer resp.Body.Close()
	at := time.Now()
	if resp.StatusCode != http.StatusOK {
		return selfMetrics{}, fmt.Errorf("agent /metrics: %s", resp.Status)
	}
	var m selfMetrics
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		m.bytes += len(line) + 1
		var dst *float64
		switch {
		case bytes.HasPrefix(line, []byte("pushagent_collector_runs_total{")):
			dst = &m.runs
		case bytes.HasPrefix(line, []byte("pushagent_collector_failures_total{")):
			dst = &m.failures
		case bytes.HasPrefix(line, []byte("pushagent_pushes_total{")):
			dst = &m.pushes
		case bytes.HasPrefix(line, []byte("pushagent_push_failures_total{")):
			dst = &m.pushFailures
		case bytes.HasPrefix(line, []byte("pushagent_plugin_warm_instances{")):
			dst = &m.warm
		case bytes.HasPrefix(line, []byte("pushagent_plugin_memory_pages{")):
			dst = &m.warmPages
		case bytes.HasPrefix(line, []byte("pushagent_collector_last_samples{")):
			dst = &m.lastSamples
		default:
			continue
		}
		i := bytes.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(string(line[i+1:]), 64)
		if err != nil {
			return selfMetrics{}, fmt.Errorf("agent /metrics: bad sample %q: %w", line, err)
		}
		*dst += v
	}
	if err := sc.Err(); err != nil {
		return selfMetrics{}, fmt.Errorf("agent /metrics: %w", err)
	}
	m.took, m.at = time.Since(start), at
	return m, nil
}

// machineTicks is the busy (not idle, not iowait) and total ticks of all
// CPUs from /proc/stat, to tell how much of the machine others used.
func machineTicks() (busy, total int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}
