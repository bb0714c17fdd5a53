package main

import (
	"strings"
	"testing"
	"time"
)

// goodSoak is a run that meets every target: RSS and goroutines level
// after the settle time (a rise during it does not count), every
// buffered sample stored once, failures only during the outage.
func goodSoak() *soakRun {
	r := &soakRun{
		opts:    soakOpts{settle: 10 * time.Minute},
		failIn:  map[string]float64{"vm buffer": 3},
		failOut: map[string]float64{},
		sent:    1000, stored: 1000, drained: true,
		subsetSeries: 10, subsetSamples: 100,
		reloads: 5, reloadsOK: 5,
		jobs: 100, perJob: 10,
	}
	for i, rss := range []float64{50, 80, 100, 101, 100, 102, 101, 103, 101, 102} {
		r.samples = append(r.samples, soakSample{at: time.Duration(i*3) * time.Minute, rssMiB: rss, goroutines: 40 + float64(i%2), runsPerSec: 990 + float64(i)})
	}
	return r
}

func checksByName(r *soakRun) map[string]soakCheck {
	out := map[string]soakCheck{}
	for _, c := range soakChecks(r) {
		out[c.name] = c
	}
	return out
}

func TestSoakChecks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*soakRun)
		failed string // the one check that must fail; "" none
	}{
		{name: "all targets met"},
		{name: "RSS grows 10 % after settling", failed: "RSS drift after the settle time", change: func(r *soakRun) {
			for i := range r.samples[len(r.samples)-3:] {
				r.samples[len(r.samples)-3+i].rssMiB = 112
			}
		}},
		{name: "goroutines climb", failed: "goroutines flat after the settle time", change: func(r *soakRun) {
			for i := range r.samples {
				r.samples[i].goroutines = 40 + 5*float64(i)
			}
		}},
		{name: "one sample lost", failed: "samples lost", change: func(r *soakRun) { r.stored = 999 }},
		{name: "samples refused by the receiver", failed: "samples lost", change: func(r *soakRun) { r.failed = 2; r.stored = 1002 - 2 }},
		{name: "samples dropped at max_size", failed: "samples lost", change: func(r *soakRun) { r.dropped = 1 }},
		{name: "buffer never drained", failed: "samples lost", change: func(r *soakRun) { r.drained = false; r.leftBytes = 4096 }},
		{name: "more stored than buffered", failed: "samples stored twice", change: func(r *soakRun) { r.stored = 1001 }},
		{name: "a repeated timestamp in the export", failed: "samples stored twice", change: func(r *soakRun) { r.subsetDup = 1 }},
		{name: "push failure outside an outage", failed: "push failures outside the outages", change: func(r *soakRun) { r.failOut["gateway http_500"] = 1 }},
		{name: "the agent falls behind", failed: "collector runs/s kept up", change: func(r *soakRun) {
			for i := range r.samples {
				r.samples[i].runsPerSec = 900
			}
		}},
		{name: "a reload not applied", failed: "config reloads applied", change: func(r *soakRun) { r.reloadsOK = 4 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := goodSoak()
			if tc.change != nil {
				tc.change(r)
			}
			for name, c := range checksByName(r) {
				want := name != tc.failed
				if name == "samples stored twice" && tc.name == "buffer never drained" {
					want = false // nothing can be told without a drain
				}
				if c.ok != want {
					t.Errorf("check %q: ok = %v, want %v (result %q)", name, c.ok, want, c.got)
				}
			}
			if tc.failed != "" {
				if _, ok := checksByName(r)[tc.failed]; !ok {
					t.Fatalf("no check named %q", tc.failed)
				}
			}
		})
	}
}

func TestSoakChecksTooFewSamples(t *testing.T) {
	r := goodSoak()
	r.samples = r.samples[:4] // one sample after the 10-minute settle time
	c := checksByName(r)["RSS drift after the settle time"]
	if c.ok || !strings.Contains(c.got, "too few") {
		t.Errorf("RSS check with one steady sample: ok %v, %q; want a failure saying too few samples", c.ok, c.got)
	}
}

func TestSoakOutageSchedule(t *testing.T) {
	o := soakOpts{outageEvery: 10 * time.Minute, outageFor: 2 * time.Minute}
	for _, tc := range []struct {
		at   time.Duration
		down bool
	}{
		{0, false}, {4*time.Minute - time.Second, false}, {4 * time.Minute, true}, {6*time.Minute - time.Second, true},
		{6 * time.Minute, false}, {14*time.Minute + 30*time.Second, true}, {16 * time.Minute, false},
	} {
		if got := o.outageAt(tc.at); got != tc.down {
			t.Errorf("outageAt(%s) = %v, want %v", tc.at, got, tc.down)
		}
	}
	if (soakOpts{outageEvery: 10 * time.Minute}).outageAt(5 * time.Minute) {
		t.Error("outageAt with -soak-outage-for 0: down, want never")
	}

	outages := []soakWindow{{from: 4 * time.Minute, to: 6 * time.Minute}, {from: 14 * time.Minute}}
	grace := 30 * time.Second
	for _, tc := range []struct {
		from, to time.Duration
		in       bool
	}{
		{3 * time.Minute, 3*time.Minute + 5*time.Second, false},
		{3*time.Minute + 58*time.Second, 4*time.Minute + 3*time.Second, true},
		{6*time.Minute + 20*time.Second, 6*time.Minute + 25*time.Second, true}, // within the grace
		{6*time.Minute + 31*time.Second, 6*time.Minute + 36*time.Second, false},
		{15 * time.Minute, 15*time.Minute + 5*time.Second, true}, // still down
	} {
		if got := inOutage(outages, tc.from, tc.to, grace); got != tc.in {
			t.Errorf("inOutage(%s…%s) = %v, want %v", tc.from, tc.to, got, tc.in)
		}
	}
}

func TestCountExportDups(t *testing.T) {
	export := `{"metric":{"__name__":"bench_value","i":"0"},"values":[1,1,1],"timestamps":[1000,2000,3000]}
{"metric":{"__name__":"bench_value","i":"1"},"values":[1,1,1,1],"timestamps":[1000,2000,2000,3000]}
`
	series, samples, dups, err := countExportDups(strings.NewReader(export))
	if err != nil || series != 2 || samples != 7 || dups != 1 {
		t.Errorf("countExportDups = %d series, %d samples, %d dups, %v; want 2, 7, 1, nil", series, samples, dups, err)
	}
}

func TestParseSoakMetrics(t *testing.T) {
	page := `# HELP go_goroutines Number of goroutines.
go_goroutines 42
process_resident_memory_bytes 1.048576e+08
pushagent_push_failures_total{job="a",output="vm",reason="buffer"} 2
pushagent_push_failures_total{job="b",output="vm",reason="buffer"} 1
pushagent_push_failures_total{job="a",output="gateway",reason="http_500"} 4
pushagent_output_samples_sent_total{output="vm"} 1000
`
	m, err := parseSoakMetrics(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{
		"go_goroutines": 42, "process_resident_memory_bytes": 100 << 20,
		"pushagent_push_failures_total": 7, "pushagent_push_failures_total vm buffer": 3, "pushagent_push_failures_total gateway http_500": 4,
		"pushagent_output_samples_sent_total vm": 1000,
	} {
		if m[k] != want {
			t.Errorf("%q = %v, want %v", k, m[k], want)
		}
	}
	if _, err := parseSoakMetrics(strings.NewReader("go_goroutines forty\n")); err == nil {
		t.Error("a sample that is not a number: no error")
	}
}
