package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
)

// TestReloadOnFileChangeAndSIGHUP: a valid new config replaces the old one
// (on file change and on SIGHUP); an invalid one is rejected with its
// problems while the old one keeps running.
func TestReloadOnFileChangeAndSIGHUP(t *testing.T) {
	agentBin := testenv.BuildGo(t, "pushagent", "./cmd/pushagent")
	dir := t.TempDir()
	helloPlugin(t, dir)
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	cfgPath := filepath.Join(dir, "schedules.yaml")
	extra := "" // more config, for an output added by a reload
	write := func(jobs ...string) {
		var b strings.Builder
		fmt.Fprintf(&b, "gateway: {url: %q}\n%sdefaults: {grouping: {instance: r}}\njobs:\n", gw.URL, extra)
		for _, j := range jobs {
			fmt.Fprintf(&b, "  - {name: %s, every: 1s, collectors: [{name: c, plugin: hello.wasm, config: 1}]}\n", j)
		}
		// Write then rename, as editors and ConfigMaps do.
		tmp := cfgPath + ".tmp"
		if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, cfgPath); err != nil {
			t.Fatal(err)
		}
	}
	hasJob := func(job string) func() bool {
		return func() bool { return strings.Contains(gw.Metrics(t), `job="`+job+`"`) }
	}
	write("one")
	listen := testenv.FreeAddr(t)
	a := startAgent(t, agentBin, nil, "run", "--config", cfgPath, "--cache-dir", "", "--listen", listen)
	testenv.Eventually(t, 20*time.Second, "job one pushed", hasJob("one"))
	get := func(path string) string {
		resp, err := http.Get("http://" + listen + path)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if m := get("/metrics"); !strings.Contains(m, "pushagent_config_last_reload_successful 1") {
		t.Errorf("after the start, /metrics lacks pushagent_config_last_reload_successful 1:\n%s", m)
	}

	// An invalid config: rejected with its problem, the old one keeps going.
	if err := os.WriteFile(cfgPath, []byte("gateway: {url: x}\njobs: [{name: one, evry: 1s}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "invalid config rejected", func() bool {
		return strings.Contains(a.log(), "reload rejected") && strings.Contains(a.log(), "jobs[0].evry")
	})
	// Recorded where Prometheus records its own, and on the status page
	// with the problem.
	if m := get("/metrics"); !strings.Contains(m, "pushagent_config_last_reload_successful 0") ||
		!strings.Contains(m, "pushagent_config_last_reload_success_timestamp_seconds ") {
		t.Errorf("after a rejected reload, /metrics lacks pushagent_config_last_reload_successful 0:\n%s", m)
	}
	if page := get("/"); !strings.Contains(page, "Config reload FAILED") || !strings.Contains(page, cfgPath+":2: jobs[0].evry") {
		t.Errorf("the status page does not show the rejected reload and its problem:\n%s", page)
	}
	before := countLines(a.log(), "msg=pushed job=one")
	testenv.Eventually(t, 10*time.Second, "job one keeps pushing", func() bool { return countLines(a.log(), "msg=pushed job=one") >= before+2 })

	// A valid change on disk is picked up by the file watch.
	write("one", "two")
	testenv.Eventually(t, 10*time.Second, "job two added by the file watch", hasJob("two"))
	if !strings.Contains(a.log(), `msg="config reloaded" trigger="file changed" added=[two]`) {
		t.Errorf("reload not logged as expected:\n%s", a.log())
	}

	if m := get("/metrics"); !strings.Contains(m, "pushagent_config_last_reload_successful 1") {
		t.Errorf("after a reload, /metrics lacks pushagent_config_last_reload_successful 1")
	}
	if page := get("/"); !strings.Contains(page, "Config reloaded") || !strings.Contains(page, "jobs added: two") {
		t.Errorf("the status page does not show what the last reload changed:\n%s", page)
	}

	// SIGHUP reloads too (here the file did not change, then it did), and
	// the log names the outputs it changed.
	extra = fmt.Sprintf("outputs: {gw2: {pushgateway: {url: %q}}}\n", gw.URL)
	write("one", "two", "three")
	_ = a.cmd.Process.Signal(syscall.SIGHUP)
	testenv.Eventually(t, 10*time.Second, "job three added", hasJob("three"))
	testenv.Eventually(t, 5*time.Second, "SIGHUP reload logged", func() bool {
		return strings.Contains(a.log(), `msg="config reloaded" trigger=SIGHUP added=[three] changed=[] removed=[] unchanged=2 outputs_added=[gw2] outputs_changed=[] outputs_removed=[]`)
	})

	a.stop(t)
}

func countLines(s, substr string) int {
	n := 0
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// TestReloadOnConfigMapSwap: Kubernetes updates a mounted ConfigMap by
// swapping a "..data" symlink; the file the agent was given is a symlink
// through it whose own name never changes.
func TestReloadOnConfigMapSwap(t *testing.T) {
	agentBin := testenv.BuildGo(t, "pushagent", "./cmd/pushagent")
	dir := t.TempDir()
	hello := helloPlugin(t, dir)
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	mount := filepath.Join(dir, "config")
	version := func(name string, jobs ...string) {
		d := filepath.Join(mount, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "gateway: {url: %q}\ndefaults: {grouping: {instance: r}}\njobs:\n", gw.URL)
		for _, j := range jobs {
			fmt.Fprintf(&b, "  - {name: %s, every: 1s, collectors: [{name: c, plugin: %s, config: 1}]}\n", j, hello)
		}
		if err := os.WriteFile(filepath.Join(d, "schedules.yaml"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		// Atomically point ..data at the new version, as the kubelet does.
		tmp := filepath.Join(mount, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(mount, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..v1", "cm-one")
	if err := os.Symlink(filepath.Join("..data", "schedules.yaml"), filepath.Join(mount, "schedules.yaml")); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, agentBin, nil, "run", "--config", filepath.Join(mount, "schedules.yaml"), "--cache-dir", "")
	testenv.Eventually(t, 20*time.Second, "cm-one pushed", func() bool { return strings.Contains(gw.Metrics(t), `job="cm-one"`) })
	version("..v2", "cm-one", "cm-two")
	testenv.Eventually(t, 10*time.Second, "cm-two added after the ..data swap", func() bool { return strings.Contains(gw.Metrics(t), `job="cm-two"`) })
	a.stop(t)
}

// helloPlugin builds the tiny wat plugin the reload, secret and listener
// tests run into dir and returns its path: it prints one series, so a push
// shows which config ran.
func helloPlugin(t *testing.T, dir string) string {
	t.Helper()
	wat2wasm := testenv.RequireBinary(t, "wat2wasm")
	hello := filepath.Join(dir, "hello.wasm")
	if b, err := exec.Command(wat2wasm, filepath.Join("..", "agent", "wasmhost", "testdata", "hello.wat"), "-o", hello).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	return hello
}
