//go:build image

package imagetest

import (
	"bufio"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
)

// The image's documented interface: where it reads its config, where it
// writes, who it runs as. The README's container section says the same.
const (
	configPath = "/opt/pushagent/schedules.yaml"
	cacheDir   = "/var/cache/pushagent"
	nonRoot    = "65532"
	// startBound is how soon after the container starts the bundled
	// config must have pushed: a cold compile of its two Go plugins alone
	// takes longer (seconds each) on this machine kind.
	startBound = 3 * time.Second
)

// TestImageBundledConfig runs the image as the README says, on the bundled
// config: as a non-root user, read-only, pushing within startBound from the
// warm compilation cache, healthy, and deleting its delete_on_shutdown
// group on SIGTERM.
func TestImageBundledConfig(t *testing.T) {
	p := newPodman(t)
	img := p.inspectImage(t)
	t.Logf("image %s: %.1f MB", p.image, float64(img.Size)/1e6)
	checkReadmeSize(t, img.Size)
	if img.Config.User != nonRoot+":"+nonRoot {
		t.Errorf("image USER = %q, want %s:%s (non-root)", img.Config.User, nonRoot, nonRoot)
	}
	if _, ok := img.Config.Volumes[cacheDir]; !ok {
		t.Errorf("image VOLUME = %v, want %s (the compilation cache)", img.Config.Volumes, cacheDir)
	}
	if got, _ := img.env("PUSHAGENT_CACHE_DIR"); got != cacheDir {
		t.Errorf("image PUSHAGENT_CACHE_DIR = %q, want %s", got, cacheDir)
	}
	if img.Healthcheck == nil || len(img.Healthcheck.Test) == 0 {
		t.Fatal("image has no HEALTHCHECK (podman keeps it only in the docker image format: build with --format docker)")
	}
	if !slices.Contains(img.Config.Cmd, configPath) {
		t.Errorf("image CMD %q does not read %s", img.Config.Cmd, configPath)
	}

	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	const instance = "imagetest"
	c := p.run(t, "-e", "PUSHGATEWAY_URL="+gw.URL, "-e", "HOSTNAME="+instance)

	// Both jobs of the bundled config push; the first run of an interval
	// job is at start (plus the node job's jitter of up to 1s).
	var pushed map[string]float64
	testenv.Eventually(t, 20*time.Second, "push of jobs node and textfile", func() bool {
		pushed = pushTimes(gw.Metrics(t), instance)
		return pushed["node"] > 0 && pushed["textfile"] > 0
	})
	st := c.inspect(t)
	started := float64(st.State.StartedAt.UnixNano()) / 1e9
	last := max(pushed["node"], pushed["textfile"]) - started
	first := min(pushed["node"], pushed["textfile"]) - started
	// The agent is idle after its first runs (the next is 10 s away), so
	// its threads' times now are those of the start.
	onCPU, waited := schedstat(t, st.State.Pid)
	t.Logf("first push %.2fs, both jobs pushed %.2fs after the container started; the agent ran %.2fs on a CPU and its threads waited %.2fs for one",
		first, last, onCPU.Seconds(), waited.Seconds())
	// On a machine shared with other work, the time the agent's threads
	// were ready but waiting for a CPU is not the agent's: it is taken
	// off (summed over threads, so generously) before comparing with the
	// bound. On an idle machine nothing is taken off.
	if own := time.Duration(last*float64(time.Second)) - waited; own > startBound {
		t.Errorf("both jobs pushed %.2fs after start (%.2fs not counting waits for a CPU), want within %v: was the warm compilation cache used?", last, own.Seconds(), startBound)
	}

	t.Run("non-root, read-only", func(t *testing.T) {
		status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(st.State.Pid), "status"))
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(status)) {
			if ids, ok := strings.CutPrefix(line, "Uid:"); ok {
				if f := strings.Fields(ids); slices.ContainsFunc(f, func(id string) bool { return id != nonRoot }) {
					t.Errorf("agent runs with uids %v, want %s (real, effective, saved, fs)", f, nonRoot)
				}
			}
		}
		if !st.HostConfig.ReadonlyRootfs {
			t.Error("container root file system is writable")
		}
		for _, m := range st.Mounts {
			if m.RW && m.Destination != cacheDir && m.Destination != stateDir {
				t.Errorf("writable mount %s: only %s and %s should be", m.Destination, cacheDir, stateDir)
			}
		}
	})

	// The cache volume starts as a copy of the image's warm cache; wazero
	// adds an entry for every module it compiles (and rewrites nothing on
	// a hit), so an unchanged set of files proves no plugin was compiled.
	t.Run("no compile: the warm cache served every plugin", func(t *testing.T) {
		var vol string
		for _, m := range st.Mounts {
			if m.Destination == cacheDir {
				vol = m.Source
			}
		}
		if vol == "" {
			t.Fatalf("no volume at %s: %+v", cacheDir, st.Mounts)
		}
		want := listFiles(t, filepath.Join(p.root(t), cacheDir))
		if len(want) == 0 {
			t.Fatalf("the image's %s is empty: `make dist` warms it with validate", cacheDir)
		}
		if got := listFiles(t, vol); !slices.Equal(got, want) {
			t.Errorf("compilation cache changed while the agent started: the image's warm cache was not used\nin the image:  %q\nafter the run: %q", want, got)
		}
	})

	t.Run("HEALTHCHECK passes", func(t *testing.T) {
		if out, err := p.output("healthcheck", "run", c.name); err != nil {
			t.Errorf("HEALTHCHECK %q failed: %v\n%s", img.Healthcheck.Test, err, out)
		}
	})

	t.Run("SIGTERM deletes the delete_on_shutdown group", func(t *testing.T) {
		p.must(t, "kill", "--signal", "TERM", c.name)
		if code := strings.TrimSpace(p.must(t, "wait", c.name)); code != "0" {
			t.Errorf("agent exited with %s after SIGTERM, want 0", code)
		}
		after := pushTimes(gw.Metrics(t), instance)
		if _, ok := after["textfile"]; ok {
			t.Errorf("group job=textfile (delete_on_shutdown: true) still at the gateway after SIGTERM\n%s", c.logs(t))
		}
		if _, ok := after["node"]; !ok {
			t.Error("group job=node (no delete_on_shutdown) gone after SIGTERM: the test cannot tell a deletion from a lost push")
		}
	})
}

// TestImageMountedConfig mounts a config file at the documented path, as
// `docker run -v ./schedules.yaml:/opt/pushagent/schedules.yaml` does, and
// edits it on the host: the agent picks it up and reloads it.
func TestImageMountedConfig(t *testing.T) {
	p := newPodman(t)
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	cfg := filepath.Join(t.TempDir(), "schedules.yaml")
	write := func(job string) {
		// In place, as a bind mount needs: a file replaced on the host
		// (rename) is not the one mounted any more.
		y := "gateway: {url: " + gw.URL + "}\n" +
			"defaults: {grouping: {instance: mounted}}\n" +
			"jobs:\n" +
			"  - name: " + job + "\n" +
			"    every: 2s\n" +
			"    collectors:\n" +
			"      - name: files\n" +
			"        plugin: plugins/textfile.wasm\n" +
			"        timeout: 1s\n" +
			"        mounts: {/textfile: examples/textfile}\n" +
			"        config: {directory: /textfile}\n"
		if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("mounted")
	c := p.run(t, "-v", cfg+":"+configPath+":ro")
	hasJob := func(job string) func() bool {
		return func() bool { _, ok := pushTimes(gw.Metrics(t), "mounted")[job]; return ok }
	}
	testenv.Eventually(t, 20*time.Second, "push of job mounted (the mounted config)", hasJob("mounted"))

	write("reloaded")
	testenv.Eventually(t, 20*time.Second, "push of job reloaded after the mounted file changed", hasJob("reloaded"))
	if logs := c.logs(t); !strings.Contains(logs, `msg="config reloaded" trigger="file changed" added=[reloaded]`) {
		t.Errorf("no file-change reload in the log:\n%s", logs)
	}
}

// pushTimes returns, by job, push_time_seconds of the groups with the
// given instance label in a gateway's /metrics.
func pushTimes(metrics, instance string) map[string]float64 {
	re := regexp.MustCompile(`^push_time_seconds\{instance="` + regexp.QuoteMeta(instance) + `",job="([^"]+)"\} (\S+)$`)
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(metrics))
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			if v, err := strconv.ParseFloat(m[2], 64); err == nil {
				out[m[1]] = v
			}
		}
	}
	return out
}

// schedstat sums, over a process's threads, the time they ran on a CPU
// and the time they were runnable but waited for one (Linux's
// /proc/PID/task/TID/schedstat: run ns, wait ns, time slices).
func schedstat(t *testing.T, pid int) (run, wait time.Duration) {
	t.Helper()
	tasks, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "schedstat"))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("imagetest: no schedstat for pid %d: %v", pid, err)
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r, w, slices int64
		if _, err := fmt.Sscan(string(b), &r, &w, &slices); err != nil {
			t.Fatalf("imagetest: %s: %v", f, err)
		}
		run += time.Duration(r)
		wait += time.Duration(w)
	}
	return run, wait
}

// listFiles is every file under dir, as sorted "path size" lines.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, rel+" "+strconv.FormatInt(info.Size(), 10))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// checkReadmeSize: the README's container section quotes the image's size
// as "Size: N MB"; it must stay within 5% of the image just built.
func checkReadmeSize(t *testing.T, size int64) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`image is (\d+(?:\.\d+)?) MB`).FindSubmatch(readme)
	if m == nil {
		t.Errorf("README.md quotes no image size (\"image is N MB\"); measured %.1f MB", float64(size)/1e6)
		return
	}
	quoted, _ := strconv.ParseFloat(string(m[1]), 64)
	if measured := float64(size) / 1e6; math.Abs(measured-quoted) > 0.05*measured {
		t.Errorf("README.md says the image is %s MB, measured %.1f MB: update it", m[1], measured)
	}
}
