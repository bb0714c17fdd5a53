package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

// failingWAT is a command that logs, as the Go SDK does, why it fails
// and exits 1.
const failingWAT = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "level=ERROR msg=\"collect failed\" err=\"reading /data: open /data: Bad file number\"\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 82))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 1))))
`

// A failed plugin's own reason reaches the agent's failure line and the
// status page, logged once, inside that line.
func TestFailureCarriesThePluginsReason(t *testing.T) {
	wat2wasm := testenv.RequireBinary(t, "wat2wasm")
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "fails.wat"), filepath.Join(dir, "fails.wasm")
	if err := os.WriteFile(src, []byte(failingWAT), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(wat2wasm, src, "-o", bin).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	var logs testenv.Logs
	cfg := &config.Config{
		Gateway: config.Gateway{URL: "http://127.0.0.1:1", Timeout: 200 * time.Millisecond},
		Jobs: []config.Job{{
			Name: "j", Every: time.Second, Method: "put",
			Collectors: []config.Collector{testCollector("files", bin, "{}")},
		}},
	}
	a := newAgent(t, cfg, Options{Logger: logs.Logger()})
	stop := start(t, a)
	testenv.Eventually(t, 15*time.Second, "a finished run", func() bool { return !a.Status()[0].LastRun.IsZero() })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	const reason = "exited with code 1: wasmhost: the plugin reported failure: collect failed: reading /data: open /data: Bad file number (the plugin opened a path, and its collector has no mounts"
	if c := a.Status()[0].Collectors[0]; c.Success || !strings.Contains(c.Error, "plugin "+bin+": "+reason) {
		t.Errorf("status page error = %q\nwant it to carry %q", c.Error, reason)
	}
	l := logs.String()
	// Logged once, by the agent, with the plugin's reason inside: the
	// plugin's own ERROR line is the reason, not a record of its own.
	if strings.Contains(l, `msg="plugin log"`) {
		t.Errorf("the failure is logged twice, as the plugin's record and the agent's:\n%s", l)
	}
	for _, want := range []string{
		`level=WARN msg="collector failed" job=j collector=files plugin=` + bin,
		reason,
	} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %s:\n%s", want, l)
		}
	}
}
