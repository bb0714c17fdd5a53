package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"go.yaml.in/yaml/v3"

	"github.com/pushagent/pushagent/internal/testenv"
)

// Each mapping's Rss goes to one kind: file-backed by inode, anonymous by
// permissions, the kernel's [v…] pages aside.
func TestParseSmaps(t *testing.T) {
	const smaps = `00400000-00a00000 r-xp 00000000 08:01 1234 /usr/bin/agent
Size:               6144 kB
Rss:                4000 kB
Pss:                4000 kB
00c00000-04000000 rw-p 00000000 00:00 0
Rss:               50000 kB
Anonymous:         50000 kB
7f0000000000-7f0002000000 r-xp 00000000 00:00 0
Rss:               30000 kB
7f0002000000-7f0002001000 ---p 00000000 00:00 0
Rss:                   0 kB
7f0003000000-7f0003100000 r--p 00000000 00:00 0
Rss:                 100 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
Rss:                  24 kB
7ffd10000000-7ffd10004000 r--p 00000000 00:00 0 [vvar]
Rss:                   0 kB
7ffd10004000-7ffd10006000 r-xp 00000000 00:00 0 [vdso]
Rss:                   8 kB
VmFlags: rd ex mr mw me de sd
`
	got, err := parseSmaps(strings.NewReader(smaps))
	if err != nil {
		t.Fatal(err)
	}
	want := memBreakdown{anonRW: 50024, anonExec: 30000, anonOther: 108, file: 4000}
	if got != want {
		t.Errorf("parseSmaps = %+v, want %+v", got, want)
	}
	if got.total() != 84132 {
		t.Errorf("total = %d, want 84132", got.total())
	}
}

// The bundled schedules.yaml, resolved, runs from any directory: plugins
// from -plugins, relative mounts against the repository, and the rest
// (the gateway URL's ${PUSHGATEWAY_URL:-…}) untouched.
func TestResolveSchedulesBundled(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out, jobs, every, plugins, err := resolveSchedules(filepath.Join(repo, "schedules.yaml"), "/opt/plugins")
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) == 0 || every <= 0 || len(plugins) != len(jobs) {
		t.Errorf("jobs %v, every %s, plugins %v: want each job's one plugin and a positive interval", jobs, every, plugins)
	}
	var cfg struct {
		Gateway struct{ URL string }
		Jobs    []struct {
			Collectors []struct {
				Plugin string
				Mounts map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("resolved config: %v\n%s", err, out)
	}
	if !strings.Contains(cfg.Gateway.URL, "${PUSHGATEWAY_URL") {
		t.Errorf("gateway url = %q, want the ${PUSHGATEWAY_URL…} reference kept", cfg.Gateway.URL)
	}
	for _, j := range cfg.Jobs {
		for _, c := range j.Collectors {
			if filepath.Dir(c.Plugin) != "/opt/plugins" {
				t.Errorf("plugin %q is not in -plugins", c.Plugin)
			}
			for guest, host := range c.Mounts {
				if !filepath.IsAbs(host) {
					t.Errorf("mount %s: %q is not absolute", guest, host)
				}
				if host != "/proc" && !strings.HasPrefix(host, repo+string(filepath.Separator)) {
					t.Errorf("mount %s: %q is not under the repository %s", guest, host, repo)
				}
			}
		}
	}
}

func TestParseTextSamples(t *testing.T) {
	page := `# HELP up Whether up.
# TYPE up gauge
up 1
node_cpu_seconds_total{cpu="0",mode="idle"} 10.5
node_cpu_seconds_total{cpu="1",mode="idle"} 4.5 1700000000000
node_label{v="a } b"} 2

`
	n, sums, err := parseTextSamples(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 || sums["up"] != 1 || sums["node_cpu_seconds_total"] != 15 || sums["node_label"] != 2 {
		t.Errorf("got %d samples, sums %v", n, sums)
	}
	if _, _, err := parseTextSamples(strings.NewReader("up\n")); err == nil {
		t.Error("a sample without a value parsed")
	}
}

// grow.wat ends just under whatever memory_limit it gets (within its 1 MiB
// step) and prints that as its one gauge.
func TestGrowReachesJustUnderItsLimit(t *testing.T) {
	wat2wasm := testenv.RequireBinary(t, "wat2wasm")
	wasm := filepath.Join(t.TempDir(), "grow.wasm")
	if out, err := exec.Command(wat2wasm, "testdata/grow.wat", "-o", wasm).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, out)
	}
	for _, limitMiB := range []uint32{32, 128} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithMemoryLimitPages(limitMiB*16))
		wasi_snapshot_preview1.MustInstantiate(ctx, rt)
		code, err := os.ReadFile(wasm)
		if err != nil {
			t.Fatal(err)
		}
		var stdout bytes.Buffer
		if _, err := rt.InstantiateWithConfig(ctx, code, wazero.NewModuleConfig().WithStdout(&stdout)); err != nil {
			t.Fatalf("%d MiB: %v", limitMiB, err)
		}
		rt.Close(ctx)
		cancel()
		n, sums, err := parseTextSamples(&stdout)
		if err != nil || n != 1 {
			t.Fatalf("%d MiB: output %q: %d samples, %v", limitMiB, stdout.String(), n, err)
		}
		limit := float64(limitMiB) * (1 << 20)
		if got := sums[growMetric]; got > limit || got <= limit-(1<<20) {
			t.Errorf("%d MiB: %s = %.0f, want within the last MiB below %.0f", limitMiB, growMetric, got, limit)
		}
	}
}
