package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The parsers take whole file contents and return errors that name the line
// and field, never panicking: /proc is mounted from the host, and a kernel
// with a different layout, or a wrong mount, must give a clear failed run.

// userHZ is the unit of the tick counts in /proc/stat. It is 100 on every
// Linux architecture pushagent runs on; the kernel keeps it fixed for
// userspace regardless of CONFIG_HZ.
const userHZ = 100

type loadavg struct {
	load1, load5, load15 float64
}

// parseLoadavg reads /proc/loadavg: "0.21 0.33 0.40 1/234 5678".
func parseLoadavg(data string) (loadavg, error) {
	fields := strings.Fields(data)
	if len(fields) < 3 {
		return loadavg{}, fmt.Errorf("want at least 3 fields, got %d", len(fields))
	}
	var v [3]float64
	for i := range v {
		f, err := strconv.ParseFloat(fields[i], 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return loadavg{}, fmt.Errorf("field %d: %q is not a load average", i+1, fields[i])
		}
		v[i] = f
	}
	return loadavg{v[0], v[1], v[2]}, nil
}

type memField struct {
	// name is the field as node_exporter names it: "Active(anon)" becomes
	// "Active_anon", and "_bytes" is appended when the kernel gives a unit.
	name  string
	value float64
}

// parseMeminfo reads /proc/meminfo: "MemTotal:       16333760 kB" lines,
// converting kB to bytes. Lines without a unit (HugePages_Total) are counts.
func parseMeminfo(data string) ([]memField, error) {
	var fields []memField
	seen := map[string]bool{}
	for i, line := range strings.Split(data, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		parts := strings.Fields(line)
		if len(parts) < 2 || len(parts) > 3 || !strings.HasSuffix(parts[0], ":") {
			return nil, fmt.Errorf("line %d: %q is not \"Name: value [kB]\"", i+1, line)
		}
		name := memFieldName(strings.TrimSuffix(parts[0], ":"))
		if name == "" {
			return nil, fmt.Errorf("line %d: field name %q has characters a metric name cannot hold", i+1, parts[0])
		}
		v, err := strconv.ParseUint(parts[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: field %s: %q is not a count", i+1, name, parts[1])
		}
		value := float64(v)
		if len(parts) == 3 {
			if parts[2] != "kB" {
				return nil, fmt.Errorf("line %d: field %s: unknown unit %q, want kB", i+1, name, parts[2])
			}
			value *= 1024
			name += "_bytes"
		}
		if seen[name] {
			return nil, fmt.Errorf("line %d: field %s appears twice", i+1, name)
		}
		seen[name] = true
		fields = append(fields, memField{name: name, value: value})
	}
	if len(fields) == 0 {
		return nil, errors.New("no fields")
	}
	return fields, nil
}

// memFieldName turns "Active(anon)" into "Active_anon", as node_exporter
// does, and returns "" for anything else outside [A-Za-z0-9_].
func memFieldName(s string) string {
	if open := strings.IndexByte(s, '('); open > 0 && strings.HasSuffix(s, ")") {
		s = s[:open] + "_" + s[open+1:len(s)-1]
	}
	if s == "" {
		return ""
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return ""
		}
	}
	return s
}

// cpuModes are the per-CPU columns of /proc/stat in kernel order. guest and
// guest_nice are already included in user and nice, so node_exporter (and
// this plugin) reports them in a separate family.
var cpuModes = []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"}

type cpuTimes struct {
	cpu string
	// seconds per mode, in cpuModes order; older kernels give fewer columns.
	seconds []float64
}

// stat holds /proc/stat. A value the kernel did not give is -1, so that the
// plugin leaves that metric out instead of reporting a false zero.
type stat struct {
	cpus            []cpuTimes
	bootTime        float64
	contextSwitches float64
	forks           float64
	interrupts      float64
	procsRunning    float64
	procsBlocked    float64
}

// parseStat reads /proc/stat. Lines it does not use (softirq, the aggregate
// cpu line, ...) are ignored so that new kernel lines do not break it.
func parseStat(data string) (stat, error) {
	s := stat{bootTime: -1, contextSwitches: -1, forks: -1, interrupts: -1, procsRunning: -1, procsBlocked: -1}
	seenCPU := map[string]bool{}
	for i, line := range strings.Split(data, "\n") {
		parts := strings.Fields(line)
		if len(parts) == 0 {
			continue
		}
		key := parts[0]
		if cpu, ok := strings.CutPrefix(key, "cpu"); ok && cpu != "" {
			if _, err := strconv.ParseUint(cpu, 10, 32); err != nil {
				return stat{}, fmt.Errorf("line %d: %q is not a CPU number", i+1, key)
			}
			if seenCPU[cpu] {
				return stat{}, fmt.Errorf("line %d: cpu%s appears twice", i+1, cpu)
			}
			seenCPU[cpu] = true
			ticks := parts[1:]
			if len(ticks) < 4 {
				return stat{}, fmt.Errorf("line %d: cpu%s has %d columns, want at least 4", i+1, cpu, len(ticks))
			}
			ticks = ticks[:min(len(ticks), len(cpuModes))]
			t := cpuTimes{cpu: cpu, seconds: make([]float64, len(ticks))}
			for j, field := range ticks {
				n, err := strconv.ParseUint(field, 10, 64)
				if err != nil {
					return stat{}, fmt.Errorf("line %d: cpu%s %s: %q is not a tick count", i+1, cpu, cpuModes[j], field)
				}
				t.seconds[j] = float64(n) / userHZ
			}
			s.cpus = append(s.cpus, t)
			continue
		}
		var dst *float64
		switch key {
		case "btime":
			dst = &s.bootTime
		case "ctxt":
			dst = &s.contextSwitches
		case "processes":
			dst = &s.forks
		case "intr": // the first number is the total; per-IRQ counts follow
			dst = &s.interrupts
		case "procs_running":
			dst = &s.procsRunning
		case "procs_blocked":
			dst = &s.procsBlocked
		default:
			continue
		}
		if len(parts) < 2 {
			return stat{}, fmt.Errorf("line %d: %s has no value", i+1, key)
		}
		n, err := strconv.ParseUint(parts[1], 10, 64)
		if err != nil {
			return stat{}, fmt.Errorf("line %d: %s: %q is not a count", i+1, key, parts[1])
		}
		*dst = float64(n)
	}
	if len(s.cpus) == 0 {
		return stat{}, errors.New("no per-CPU lines (cpu0, cpu1, ...)")
	}
	return s, nil
}
