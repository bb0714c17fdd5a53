package main

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/internal/plugintest"
	"github.com/pushagent/pushagent/sdk"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.prom from the current output")

func TestGolden(t *testing.T) {
	var logs bytes.Buffer
	got, err := sdk.Collect([]byte(`{"proc": "testdata/proc"}`), &logs)
	if err != nil {
		t.Fatalf("collect: %v\nlogs:\n%s", err, logs.String())
	}
	plugintest.Golden(t, "testdata/golden.prom", got, *update)
}

// TestHostProc runs the plugin natively on this machine's /proc, which
// catches kernel layouts the hand-made fixtures do not have.
func TestHostProc(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux only")
	}
	got, err := sdk.Collect([]byte(`{"proc": "/proc"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nnode_load1 ", "\nnode_memory_MemTotal_bytes ", `node_cpu_seconds_total{cpu="0",mode="idle"} `, "\nnode_boot_time_seconds "} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestCollectFails(t *testing.T) {
	good := map[string]string{}
	for _, name := range []string{"loadavg", "meminfo", "stat"} {
		b, err := os.ReadFile(filepath.Join("testdata/proc", name))
		if err != nil {
			t.Fatal(err)
		}
		good[name] = string(b)
	}
	for _, tc := range []struct {
		name     string
		config   string
		override map[string]string // file contents replacing the good ones; "" removes the file
		wantErr  []string
	}{
		{
			name:    "unknown config field",
			config:  `{"procfs": "/proc"}`,
			wantErr: []string{`unknown field "procfs"`},
		},
		{
			name:     "missing file",
			override: map[string]string{"meminfo": ""},
			wantErr:  []string{"reading meminfo: open ", "(is the host's /proc mounted there?)"},
		},
		{
			name:     "every broken file is reported",
			override: map[string]string{"loadavg": "0.1 high 0.3\n", "stat": "cpu0 1 2 3\n"},
			wantErr:  []string{`loadavg: field 2: "high" is not a load average`, "stat: line 1: cpu0 has 3 columns, want at least 4"},
		},
		{
			name:     "meminfo with an unknown unit",
			override: map[string]string{"meminfo": "MemTotal: 1 MB\n"},
			wantErr:  []string{`meminfo: line 1: field MemTotal: unknown unit "MB", want kB`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range good {
				if o, ok := tc.override[name]; ok {
					content = o
				}
				if content == "" {
					continue
				}
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			config := tc.config
			if config == "" {
				config = `{"proc": "` + dir + `"}`
			}
			out, err := sdk.Collect([]byte(config), nil)
			if err == nil {
				t.Fatalf("collect succeeded:\n%s", out)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestParseMeminfoNames(t *testing.T) {
	fields, err := parseMeminfo("Active(anon): 1 kB\nHugePages_Total: 3\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []memField{{"Active_anon_bytes", 1024}, {"HugePages_Total", 3}}
	if len(fields) != len(want) || fields[0] != want[0] || fields[1] != want[1] {
		t.Errorf("fields = %v, want %v", fields, want)
	}
}

func addSeeds(f *testing.F, fixture string, extra ...string) {
	b, err := os.ReadFile(filepath.Join("testdata/proc", fixture))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	for _, s := range extra {
		f.Add(s)
	}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func FuzzParseLoadavg(f *testing.F) {
	addSeeds(f, "loadavg", "", "1 2", "NaN Inf -1", "1e400 0 0")
	f.Fuzz(func(t *testing.T, data string) {
		l, err := parseLoadavg(data)
		if err == nil && !(finite(l.load1) && finite(l.load5) && finite(l.load15) && l.load1 >= 0 && l.load5 >= 0 && l.load15 >= 0) {
			t.Errorf("accepted %q as %+v", data, l)
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	addSeeds(f, "meminfo", "", ":", "A(: 1", "(x): 1 kB", "A: 1\nA: 2", "Mem Total: 1 kB")
	f.Fuzz(func(t *testing.T, data string) {
		fields, err := parseMeminfo(data)
		if err != nil {
			return
		}
		for _, fl := range fields {
			if memFieldName(fl.name) != fl.name || !finite(fl.value) {
				t.Errorf("accepted %q with field %+v", data, fl)
			}
		}
	})
}

func FuzzParseStat(f *testing.F) {
	addSeeds(f, "stat", "", "cpu", "cpu0", "cpu0 1 2 3 4", "cpux 1 2 3 4", "cpu0 1 2 3 4\ncpu0 1 2 3 4", "cpu0 1 2 3 4\nbtime", "cpu0 1 2 3 4 5 6 7 8 9 10 11 12")
	f.Fuzz(func(t *testing.T, data string) {
		s, err := parseStat(data)
		if err != nil {
			return
		}
		for _, c := range s.cpus {
			if len(c.seconds) < 4 || len(c.seconds) > len(cpuModes) {
				t.Errorf("accepted %q with cpu %+v", data, c)
			}
		}
	})
}
