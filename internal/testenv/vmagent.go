package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Vmagent is a running vmagent (Debian's victoria-metrics package), which
// scrapes targets and remote-writes what it scraped: the peer benchmarks
// compare the agent with. Stopped when the test ends.
type Vmagent struct {
	URL string
	pid int
}

// StartVmagent starts vmagent scraping target (host:port, path /metrics)
// every interval and remote-writing to writeURL, and waits until /health
// answers.
func StartVmagent(t testing.TB, target, writeURL string, interval time.Duration) *Vmagent {
	t.Helper()
	bin := RequireBinary(t, "vmagent")
	dir := t.TempDir()
	config := filepath.Join(dir, "scrape.yml")
	body := fmt.Sprintf("scrape_configs:\n  - job_name: bench\n    scrape_interval: %s\n    static_configs:\n      - targets: [%q]\n", promDuration(interval), target)
	if err := os.WriteFile(config, []byte(body), 0o600); err != nil {
		t.Fatalf("testenv: vmagent: %v", err)
	}
	s := startServer(t, "vmagent", bin,
		func(addr string) []string {
			return []string{
				"-httpListenAddr=" + addr,
				"-promscrape.config=" + config,
				"-remoteWrite.url=" + writeURL,
				"-remoteWrite.tmpDataPath=" + filepath.Join(dir, "queue"),
			}
		},
		func(addr string) error { return checkReady("http://"+addr+"/health", "", "") })
	return &Vmagent{URL: "http://" + s.addr, pid: s.pid}
}

// CPU is the CPU time (user and system) vmagent has used so far.
func (v *Vmagent) CPU(t testing.TB) time.Duration {
	t.Helper()
	return ProcessCPU(t, v.pid)
}

// ProcessCPU reads the user and system CPU time of a process from
// /proc/PID/stat (Linux).
func ProcessCPU(t testing.TB, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("testenv: cpu of %d: %v", pid, err)
	}
	// Fields after the command name (which may hold spaces, in parens):
	// utime and stime are the 14th and 15th of the line.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}
