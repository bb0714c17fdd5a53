// Package e2e runs the real pushagent binary with real plugins against a
// real Pushgateway (basic auth on) and a real Prometheus scraping it with
// honor_labels: true, and asserts on what Prometheus answers — what a user
// would see.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// artifacts builds the agent and the plugins the tests use.
type artifacts struct {
	agent, textfile, procfs, watHello, misbehave string
}

func build(t *testing.T) artifacts {
	t.Helper()
	wasm := []string{"GOOS=wasip1", "GOARCH=wasm"}
	reactor := []string{"-buildmode=c-shared"}
	wat2wasm := testenv.RequireBinary(t, "wat2wasm")
	wat := func(name string) string {
		out := filepath.Join(t.TempDir(), name+".wasm")
		src := filepath.Join("..", "agent", "wasmhost", "testdata", name+".wat")
		if b, err := exec.Command(wat2wasm, src, "-o", out).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm %s: %v\n%s", name, err, b)
		}
		return out
	}
	return artifacts{
		agent:     testenv.BuildGo(t, "pushagent", "./cmd/pushagent"),
		textfile:  testenv.BuildGoArgs(t, "textfile.wasm", "./plugins/textfile", reactor, wasm...),
		procfs:    testenv.BuildGoArgs(t, "procfs.wasm", "./plugins/procfs", reactor, wasm...),
		watHello:  wat("hello"),
		misbehave: wat("misbehave"),
	}
}

// agentProc is a running pushagent.
type agentProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan error
}

func (a *agentProc) Write(b []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stderr.Write(b)
}

func (a *agentProc) log() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stderr.String()
}

func startAgent(t *testing.T, bin string, env []string, args ...string) *agentProc {
	t.Helper()
	a := &agentProc{done: make(chan error, 1)}
	a.cmd = exec.Command(bin, args...)
	a.cmd.Env = append(os.Environ(), env...)
	a.cmd.Stdout = a
	a.cmd.Stderr = a
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	t.Cleanup(func() {
		_ = a.cmd.Process.Kill()
		<-a.done
		if t.Failed() {
			t.Logf("agent %v log:\n%s", args, a.log())
		}
	})
	return a
}

// stop sends SIGTERM and waits for a clean exit.
func (a *agentProc) stop(t *testing.T) {
	t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		a.done <- err // for the cleanup
		if err != nil {
			t.Errorf("agent exited with %v after SIGTERM\n%s", err, a.log())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("agent did not stop within 15s of SIGTERM\n%s", a.log())
	}
}

const password = "e2e-s3cret-pass"

// writeConfig writes the test's schedules.yaml into dir. The job runs every
// second with four collectors: two Go reactor plugins, a WAT command plugin
// (not Go: the ABI is language-neutral) and one that always times out.
func writeConfig(t *testing.T, dir string, art artifacts, gatewayURL string) string {
	t.Helper()
	textDir := filepath.Join(dir, "textfile")
	if err := os.MkdirAll(textDir, 0o755); err != nil {
		t.Fatal(err)
	}
	prom := "# HELP batch_records_processed Records the last batch processed.\n# TYPE batch_records_processed gauge\nbatch_records_processed{queue=\"orders\"} 42\n"
	if err := os.WriteFile(filepath.Join(textDir, "batch.prom"), []byte(prom), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
gateway:
  url: %s
  timeout: 5s
  basic_auth:
    username: pusher
    password_file: password
defaults:
  grouping:
    instance: ${E2E_INSTANCE}
  timeout: 3s
jobs:
  - name: e2e-batch
    every: 1s
    method: put
    delete_on_shutdown: true
    collectors:
      - name: files
        plugin: %s
        mounts: {/textfile: textfile}
        config: {directory: /textfile}
        labels: {source: textfile}
      - name: host
        plugin: %s
        mounts: {/host/proc: /proc}
        config: {proc: /host/proc}
      - name: wat
        plugin: %s
        config: 7
      - name: stuck
        plugin: %s
        timeout: 200ms
        config: loop
`, gatewayURL, art.textfile, art.procfs, art.watHello, art.misbehave)
	path := filepath.Join(dir, "schedules.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAgentPushesToGatewaySeenByPrometheus(t *testing.T) {
	art := build(t)
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{Username: "pusher", Password: password})
	prom := testenv.StartPrometheus(t, testenv.PrometheusOptions{
		Targets: []string{gw.Addr}, Username: gw.Username, Password: gw.Password, ScrapeInterval: time.Second,
	})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, art, gw.URL)
	cache := filepath.Join(dir, "cache")

	// validate first, as a user would.
	validate := exec.Command(art.agent, "validate", "--config", cfg, "--cache-dir", cache)
	validate.Env = append(os.Environ(), "E2E_INSTANCE=validate")
	out, err := validate.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	if strings.Contains(string(out), password) {
		t.Errorf("validate printed the password:\n%s", out)
	}

	// Two replicas of one job, told apart by their instance label.
	a := startAgent(t, art.agent, []string{"E2E_INSTANCE=replica-a"}, "run", "--config", cfg, "--cache-dir", cache)
	b := startAgent(t, art.agent, []string{"E2E_INSTANCE=replica-b"}, "run", "--config", cfg, "--cache-dir", cache)

	const wait = 60 * time.Second
	both := func(s []testenv.Sample) bool { return len(s) == 2 }
	// The textfile plugin's series, with the job and grouping labels.
	got := prom.WaitFor(t, `batch_records_processed{job="e2e-batch",queue="orders",source="textfile"}`, wait, both)
	for _, s := range got {
		if s.Value != 42 {
			t.Errorf("batch_records_processed = %v, want 42 (%v)", s.Value, s)
		}
		if inst := s.Labels["instance"]; inst != "replica-a" && inst != "replica-b" {
			t.Errorf("instance label = %q", inst)
		}
	}
	// The procfs plugin's series from the real /proc.
	prom.WaitFor(t, `node_memory_MemTotal_bytes{job="e2e-batch"} > 0`, wait, both)
	prom.WaitFor(t, `node_cpu_seconds_total{job="e2e-batch",mode="idle"}`, wait, func(s []testenv.Sample) bool { return len(s) >= 2 })
	// The WAT plugin's series, with its config handed over on stdin.
	prom.WaitFor(t, `wat_hello{job="e2e-batch",config="7"}`, wait, both)
	// Per-collector success: the up that pushed metrics lack.
	for collector, want := range map[string]float64{"files": 1, "host": 1, "wat": 1, "stuck": 0} {
		q := fmt.Sprintf(`pushagent_collector_success{job="e2e-batch",collector=%q}`, collector)
		prom.WaitFor(t, q, wait, func(s []testenv.Sample) bool {
			return len(s) == 2 && s[0].Value == want && s[1].Value == want
		})
	}
	prom.WaitFor(t, `pushagent_collector_samples{job="e2e-batch",collector="files"} == 3`, wait, both)

	if !strings.Contains(a.log(), `collector=stuck`) || !strings.Contains(a.log(), "timed out") {
		t.Errorf("the stuck collector's failure was not logged with its name and cause:\n%s", a.log())
	}
	for _, p := range []*agentProc{a, b} {
		if strings.Contains(p.log(), password) {
			t.Errorf("agent log contains the gateway password")
		}
	}

	// A clean stop deletes replica a's group (delete_on_shutdown) and
	// leaves replica b's.
	a.stop(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		groups := gw.Groups(t)
		var instances []string
		for _, g := range groups {
			if g.Labels["job"] == "e2e-batch" {
				instances = append(instances, g.Labels["instance"])
			}
		}
		if len(instances) == 1 && instances[0] == "replica-b" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after stopping replica-a, gateway groups of e2e-batch = %v, want only replica-b", instances)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.stop(t)
}

func TestOnceAndValidate(t *testing.T) {
	art := build(t)
	dir := t.TempDir()
	// No gateway needed: once prints instead of pushing.
	cfg := writeConfig(t, dir, art, "http://127.0.0.1:1")
	cmd := exec.Command(art.agent, "once", "--config", cfg, "--cache-dir", "", "--job", "e2e-batch")
	cmd.Env = append(os.Environ(), "E2E_INSTANCE=once-test")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// The stuck collector fails, so once exits 1 — but still prints the rest.
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("once exit = %v, want exit status 1 (a collector failed)\n%s", err, stderr.String())
	}
	o := stdout.String()
	for _, want := range []string{
		`# job="e2e-batch" grouping: instance="once-test" method: put`,
		`batch_records_processed{queue="orders",source="textfile"} 42`,
		`pushagent_collector_success{collector="stuck"} 0`,
		`pushagent_collector_success{collector="files"} 1`,
		`wat_hello{config="7"} 1`,
	} {
		if !strings.Contains(o, want) {
			t.Errorf("once output lacks %s\n%s", want, o)
		}
	}

	// validate reports every problem with its path, and exits 2.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`
gateway: {url: "http://127.0.0.1:9091", basic_auth: {username: u, password: `+password+`}}
jobs:
  - name: a
    every: 10x
    collectors: [{name: c, plugin: missing.wasm, timeot: 1s}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(art.agent, "validate", "--config", bad).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("validate of a bad config: %v, want exit status 2", err)
	}
	for _, want := range []string{"jobs[0].every", "jobs[0].collectors[0].plugin", "jobs[0].collectors[0].timeot"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), password) {
		t.Errorf("validate printed the password:\n%s", out)
	}
}

// quickstartRoot checks what scripts/quickstart.sh needs, make build's
// outputs among them, and returns the repository's root.
func quickstartRoot(t *testing.T) string {
	t.Helper()
	testenv.RequireBinary(t, "prometheus-pushgateway")
	testenv.RequireBinary(t, "curl")
	testenv.RequireBinary(t, "setsid")
	root, _ := filepath.Abs("..")
	for _, f := range []string{"bin/pushagent", "plugins/textfile.wasm", "plugins/procfs.wasm"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing: make test builds it first (%v)", f, err)
			}
			t.Skipf("%s missing: run make build first", f)
		}
	}
	return root
}

func TestQuickstartScript(t *testing.T) {
	// README command 1, as a user runs it: needs make build's outputs.
	root := quickstartRoot(t)
	addr := testenv.FreeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second) // the script's 120 s and the stop
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "scripts/quickstart.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "QUICKSTART_EXIT=1", "PUSHGATEWAY_URL=http://"+addr, "PUSHAGENT_CACHE_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("quickstart: %v\n%s", err, out)
	}
	for _, want := range []string{`backup_size_bytes{`, `job="textfile"`, `node_load1{`, `pushagent_collector_success{`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("quickstart output lacks %s:\n%s", want, out)
		}
	}
}

// Ctrl-C in a terminal signals the whole foreground process group: the
// script, the agent and, unless the script keeps it apart, the gateway it
// started. The agent must still delete its groups there
// (delete_on_shutdown) and the quick start end without an error.
func TestQuickstartCtrlC(t *testing.T) {
	root := quickstartRoot(t)
	addr := testenv.FreeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second) // the script's 120 s and the stop
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "scripts/quickstart.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PUSHGATEWAY_URL=http://"+addr, "PUSHAGENT_CACHE_DIR="+t.TempDir())
	// Its own process group, as a shell's foreground job has.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &agentProc{} // its Write and log are a locked buffer
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	defer syscall.Kill(-pgid, syscall.SIGKILL)
	for !strings.Contains(out.log(), "Ctrl-C stops it") {
		if ctx.Err() != nil {
			t.Fatalf("the quick start did not get to its first pushes:\n%s", out.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := syscall.Kill(-pgid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	log := out.log()
	if err != nil {
		t.Errorf("after Ctrl-C the quick start ended with %v, want status 0\n%s", err, log)
	}
	if strings.Contains(log, "level=ERROR") || strings.Contains(log, "connection refused") {
		t.Errorf("after Ctrl-C the log has an error:\n%s", log)
	}
	if !strings.Contains(log, "group deleted from the gateway") || !strings.Contains(log, "quickstart: the agent stopped; stopping the gateway") {
		t.Errorf("the agent did not delete its groups (delete_on_shutdown):\n%s", log)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("the gateway the quick start started still listens on %s", addr)
	}
}
