package agent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

// buildProcProbe compiles testdata/hostile/procprobe.c into a WASI
// command with Debian's clang and wasi-libc.
func buildProcProbe(t *testing.T) string {
	t.Helper()
	clang := testenv.RequireBinary(t, "clang")
	testenv.RequireBinary(t, "wasm-ld")
	testenv.RequireFile(t, "wasi-libc", "/usr/lib/wasm32-wasi/libc.a")
	out := filepath.Join(t.TempDir(), "procprobe.wasm")
	src := filepath.Join("testdata", "hostile", "procprobe.c")
	if b, err := exec.Command(clang, "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("clang %s: %v\n%s", src, err, b)
	}
	return out
}

// TestHostileProcGrant: with the bundled config's grant of /proc (and with
// a grant of / that holds a procfs), a plugin reads the system-wide files
// a procfs collector needs, and nothing of the agent's process or any
// other: not self, thread-self or a pid directory, by name or by listing,
// and not through /proc/net, the link into self/net.
func TestHostileProcGrant(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("procfs is Linux's")
	}
	probe := buildProcProbe(t)
	pid := strconv.Itoa(os.Getpid())
	readable := []string{"stat", "meminfo", "loadavg", "net/dev", "diskstats"}
	if _, err := os.Stat("/proc/pressure/cpu"); err == nil {
		readable = append(readable, "pressure/cpu")
	}
	hidden := []string{
		"self/environ", "self/mem", "self/maps", "self/cmdline", "thread-self/environ",
		pid + "/environ", pid + "/mem", "1/environ", "net/../self/environ", "kcore",
	}
	listed := []string{"", "net/"} // directories listed: "" is the procfs root
	paths := func(prefix string) []string {
		var ps []string
		for _, group := range [][]string{readable, hidden} {
			for _, p := range group {
				ps = append(ps, prefix+p)
			}
		}
		for _, d := range listed {
			ps = append(ps, prefix+d)
		}
		return ps
	}
	grants := []struct {
		collector string
		mounts    map[string]string
		prefix    string // where the procfs is in the plugin's view; each its own, so the probes' series differ
	}{
		{"proc", map[string]string{"/host/proc": "/proc"}, "/host/proc/"},
		{"root", map[string]string{"/hostroot": "/"}, "/hostroot/proc/"},
	}
	job := config.Job{Name: "proc-grant", Every: time.Minute, Method: "put", Grouping: map[string]string{"instance": "hostile"}}
	for _, g := range grants {
		cfgJSON := `["` + strings.Join(paths(g.prefix), `","`) + `"]`
		job.Collectors = append(job.Collectors, config.Collector{
			Name: g.collector, Plugin: probe, Config: []byte(cfgJSON), Mounts: g.mounts,
			Timeout: 10 * time.Second, MemoryLimit: 4 << 20, MaxOutput: 8 << 20,
		})
	}
	cfg := &config.Config{Gateway: config.Gateway{URL: "http://127.0.0.1:1", Timeout: time.Second}, Jobs: []config.Job{job}}
	logs := &hostileLog{}
	a, err := New(context.Background(), cfg, Options{Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	c, err := a.Collect(context.Background(), job.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grants {
		if st := hostileStatus(t, c, g.collector); !st.Success {
			t.Fatalf("grant %v: the prober failed: %v\n%s", g.mounts, st.Err, logs)
		}
	}
	// value returns the sample of family name whose path label is path.
	value := func(name, path string) (float64, bool) {
		for _, f := range families(c) {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.Metric {
				for _, lp := range m.Label {
					if lp.GetName() != "path" || lp.GetValue() != path {
						continue
					}
					return m.GetUntyped().GetValue(), true
				}
			}
		}
		return 0, false
	}
	for _, g := range grants {
		for _, p := range readable {
			path := g.prefix + p
			if e, ok := value("hostile_proc_errno", path); !ok || e != 0 {
				t.Errorf("grant %v: %s, a system-wide file, is not readable: errno %v (probed %v)", g.mounts, path, e, ok)
			}
			if n, _ := value("hostile_proc_read_bytes", path); n <= 0 {
				t.Errorf("grant %v: reading %s got %v bytes", g.mounts, path, n)
			}
		}
		for _, p := range hidden {
			path := g.prefix + p
			if e, ok := value("hostile_proc_errno", path); !ok || e == 0 {
				n, _ := value("hostile_proc_read_bytes", path)
				t.Errorf("SANDBOX ESCAPE: grant %v: the plugin opened %s (read %v bytes)", g.mounts, path, n)
			}
		}
		for _, d := range listed {
			dir := g.prefix + d
			var names []string
			for _, f := range families(c) {
				if f.GetName() != "hostile_proc_entry" {
					continue
				}
				for _, m := range f.Metric {
					var inDir bool
					var name string
					for _, lp := range m.Label {
						switch lp.GetName() {
						case "dir":
							inDir = lp.GetValue() == dir
						case "name":
							name = lp.GetValue()
						}
					}
					if inDir {
						names = append(names, name)
					}
				}
			}
			if len(names) == 0 {
				t.Errorf("grant %v: listing %s showed nothing", g.mounts, dir)
			}
			for _, n := range names {
				if _, err := strconv.Atoi(n); err == nil || n == "self" || n == "thread-self" {
					t.Errorf("SANDBOX ESCAPE: grant %v: listing %s shows %s", g.mounts, dir, n)
				}
			}
		}
	}
}
