// Command procfs is a pushagent plugin that reports host metrics from a
// mounted /proc, named like node_exporter's: load average, memory, CPU time
// and process counts.
//
// It reads three files (loadavg, meminfo, stat) under the directory named in
// its config, which the host mounts read-only; it reads nothing else.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pushagent/pushagent/sdk"
)

type config struct {
	// Proc is a guest path: where the collector's mounts put the host's
	// /proc. The default avoids /proc so the mount cannot be mistaken for
	// the guest's own, which WASI does not have.
	Proc string `json:"proc"`
}

func init() { sdk.Register(collect) }

func main() { sdk.Main() }

func collect(c *sdk.Collection) error {
	cfg := config{Proc: "/host/proc"}
	if err := c.DecodeConfig(&cfg); err != nil {
		return err
	}
	if cfg.Proc == "" {
		return errors.New(`config: "proc" must not be empty`)
	}
	// Every file is tried, so one failed run reports all the problems.
	return errors.Join(
		collectFile(cfg.Proc, "loadavg", func(data string) error { return collectLoadavg(c, data) }),
		collectFile(cfg.Proc, "meminfo", func(data string) error { return collectMeminfo(c, data) }),
		collectFile(cfg.Proc, "stat", func(data string) error { return collectStat(c, data) }),
	)
}

func collectFile(dir, name string, collect func(data string) error) error {
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w (is the host's /proc mounted there?)", name, err)
	}
	if err := collect(string(data)); err != nil {
		return fmt.Errorf("parsing %s: %w", path, err)
	}
	return nil
}

func collectLoadavg(c *sdk.Collection, data string) error {
	l, err := parseLoadavg(data)
	if err != nil {
		return err
	}
	c.Gauge("node_load1", "1m load average.").Set(l.load1)
	c.Gauge("node_load5", "5m load average.").Set(l.load5)
	c.Gauge("node_load15", "15m load average.").Set(l.load15)
	return nil
}

func collectMeminfo(c *sdk.Collection, data string) error {
	fields, err := parseMeminfo(data)
	if err != nil {
		return err
	}
	for _, f := range fields {
		c.Gauge("node_memory_"+f.name, "Memory information field "+f.name+".").Set(f.value)
	}
	return nil
}

func collectStat(c *sdk.Collection, data string) error {
	s, err := parseStat(data)
	if err != nil {
		return err
	}
	cpu := c.Counter("node_cpu_seconds_total", "Seconds the CPUs spent in each mode.")
	guest := c.Counter("node_cpu_guest_seconds_total", "Seconds the CPUs spent in guests (VMs) for each mode.")
	for _, t := range s.cpus {
		for i, secs := range t.seconds {
			switch mode := cpuModes[i]; mode {
			case "guest":
				guest.Set(secs, "cpu", t.cpu, "mode", "user")
			case "guest_nice":
				guest.Set(secs, "cpu", t.cpu, "mode", "nice")
			default:
				cpu.Set(secs, "cpu", t.cpu, "mode", mode)
			}
		}
	}
	for _, m := range []struct {
		name, help string
		counter    bool
		value      float64
	}{
		{"node_boot_time_seconds", "Node boot time, in unixtime.", false, s.bootTime},
		{"node_context_switches_total", "Total number of context switches.", true, s.contextSwitches},
		{"node_forks_total", "Total number of forks.", true, s.forks},
		{"node_intr_total", "Total number of interrupts serviced.", true, s.interrupts},
		{"node_procs_running", "Number of processes in runnable state.", false, s.procsRunning},
		{"node_procs_blocked", "Number of processes blocked waiting for I/O to complete.", false, s.procsBlocked},
	} {
		switch {
		case m.value < 0: // not in this kernel's stat
		case m.counter:
			c.Counter(m.name, m.help).Set(m.value)
		default:
			c.Gauge(m.name, m.help).Set(m.value)
		}
	}
	return nil
}
