package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/remotewrite"
	"github.com/pushagent/pushagent/internal/testenv"
)

func TestCLI(t *testing.T) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }))
	defer healthy.Close()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("gateway: {url: ftp://x}\njobs: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"--help"}, exitOK, "Usage:", ""},
		{nil, exitUsage, "Usage:", ""},
		{[]string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{[]string{"version"}, exitOK, "pushagent ", ""},
		{[]string{"run", "-h"}, exitOK, "", "-listen"},
		{[]string{"once", "-h"}, exitOK, "", "-job"},
		{[]string{"validate", "-h"}, exitOK, "", "-config"},
		{[]string{"validate", "--config", filepath.Join(dir, "missing.yaml")}, exitUsage, "", "missing.yaml"},
		{[]string{"validate", "--config", bad}, exitUsage, "", "gateway.url"},
		{[]string{"validate", "--config", bad, "extra"}, exitUsage, "", `unexpected argument "extra"`},
		{[]string{"run", "--config", bad, "--log-level", "loud"}, exitUsage, "", "--log-level"},
		{[]string{"healthcheck", "--url", "http://127.0.0.1:1/healthz", "--timeout", "1s"}, exitFailed, "", "connection refused"},
		{[]string{"healthcheck", "--url", healthy.URL}, exitOK, "ok", ""},
		{[]string{"healthcheck", "-h"}, exitOK, "", "-password-file"},
		{[]string{"run", "--config", bad, "--web.config.file", filepath.Join(dir, "web.yml")}, exitUsage, "", "give --listen too"},
		{[]string{"run", "--config", bad, "--listen", "127.0.0.1:0", "--web.config.file", filepath.Join(dir, "web.yml")}, exitUsage, "", "web.yml: cannot read the file"},
		{[]string{"validate", "--config", bad, "--web.config.file", filepath.Join(dir, "web.yml")}, exitUsage, "", "web.yml: cannot read the file"},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		code := realMain(tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.out) || !strings.Contains(stderr.String(), tc.err) {
			t.Errorf("pushagent %v: code %d, stdout %q, stderr %q; want code %d, stdout with %q, stderr with %q",
				tc.args, code, stdout.String(), stderr.String(), tc.code, tc.out, tc.err)
		}
	}
}

// A test binary has no VCS information, like a build outside a checkout:
// the version line must not show an empty revision.
func TestVersionWithoutRevision(t *testing.T) {
	v := versionString()
	if strings.Contains(v, "revision ,") || strings.Contains(v, "revision )") || !strings.HasPrefix(v, "pushagent ") || !strings.Contains(v, "go1.") {
		t.Errorf("version = %q", v)
	}
}

// validate's summary of a job without grouping labels says so (it once
// printed "grouping , 1 collector(s)"), and a config path no mount grants
// is warned about before a run fails on it.
func TestValidateSummaryAndMountWarning(t *testing.T) {
	wat2wasm := testenv.RequireBinary(t, "wat2wasm")
	dir := t.TempDir()
	wasm := filepath.Join(dir, "hello.wasm")
	if b, err := exec.Command(wat2wasm, filepath.Join("..", "..", "agent", "wasmhost", "testdata", "hello.wat"), "-o", wasm).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	cfg := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(cfg, []byte(`gateway: {url: http://127.0.0.1:9091}
jobs:
  - name: j
    every: 1m
    collectors:
      - {name: c, plugin: hello.wasm, config: {proc: /proc}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"validate", "--config", cfg, "--cache-dir", ""}, &stdout, &stderr); code != exitOK {
		t.Fatalf("code %d: %s", code, stderr.String())
	}
	for _, want := range []string{
		`job "j": every 1m0s, put, grouping no grouping labels, 1 collector(s)`,
		`warning: job "j" collector "c": config.proc is "/proc", a path no mount grants (the collector has no mounts)`,
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("validate output lacks %s:\n%s", want, stdout.String())
		}
	}
}

// TestValidateChecksTheBufferDirectory: validate fails, as run would, for
// a remote_write buffer directory the agent cannot create, naming the
// key's line; it passes beside a running agent that holds the directory,
// without taking it from that agent; and it leaves nothing behind.
func TestValidateChecksTheBufferDirectory(t *testing.T) {
	wat2wasm := testenv.RequireBinary(t, "wat2wasm")
	dir := t.TempDir()
	wasm := filepath.Join(dir, "hello.wasm")
	if b, err := exec.Command(wat2wasm, filepath.Join("..", "..", "agent", "wasmhost", "testdata", "hello.wat"), "-o", wasm).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	write := func(bufferDir string) string {
		cfg := filepath.Join(dir, "s.yaml")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`outputs:
  tsdb:
    remote_write:
      url: http://127.0.0.1:1/api/v1/write
      buffer: {dir: %q}
jobs:
  - {name: j, every: 1m, collectors: [{name: c, plugin: hello.wasm}]}
`, bufferDir)), 0o644); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	validate := func(cfg string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := realMain([]string{"validate", "--config", cfg, "--cache-dir", ""}, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	file := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := write(filepath.Join(file, "tsdb"))
	code, stdout, stderr := validate(cfg)
	if code != exitUsage || strings.Contains(stdout, "OK") ||
		!strings.Contains(stderr, cfg+":5: outputs.tsdb.remote_write.buffer.dir: the agent cannot create or write "+filepath.Join(file, "tsdb")) ||
		!strings.Contains(stderr, "a volume at /var/lib/pushagent owned by 65532") {
		t.Errorf("validate with a buffer under a file: code %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}

	// Beside a running agent's queue, which holds the directory.
	buffer := filepath.Join(dir, "buffer")
	q, err := remotewrite.Open(remotewrite.Options{Name: "tsdb", Config: config.RemoteWrite{URL: "http://127.0.0.1:1/api/v1/write",
		Timeout: time.Second, Buffer: config.Buffer{Dir: buffer, MaxSize: 1 << 20}}})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	before, _ := os.ReadDir(buffer)
	if code, stdout, stderr := validate(write(buffer)); code != exitOK || !strings.Contains(stdout, "OK") {
		t.Errorf("validate beside a running agent: code %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	// once prints beside it too; only once --push needs the buffer.
	var stdout2, stderr2 bytes.Buffer
	if code := realMain([]string{"once", "--config", write(buffer), "--cache-dir", ""}, &stdout2, &stderr2); code != exitOK || !strings.Contains(stdout2.String(), "wat_hello") {
		t.Errorf("once beside a running agent: code %d\nstdout: %s\nstderr: %s", code, stdout2.String(), stderr2.String())
	}
	stderr2.Reset()
	if code := realMain([]string{"once", "--push", "--config", write(buffer), "--cache-dir", ""}, &stdout2, &stderr2); code != exitUsage || !strings.Contains(stderr2.String(), "locked by another pushagent") {
		t.Errorf("once --push beside a running agent: code %d\nstderr: %s", code, stderr2.String())
	}
	if after, _ := os.ReadDir(buffer); len(after) != len(before) {
		t.Errorf("validate changed the buffer directory: %v, was %v", after, before)
	}
	// The agent still owns it: a second owner is still refused.
	if q2, err := remotewrite.Open(remotewrite.Options{Name: "x", Config: config.RemoteWrite{URL: "http://127.0.0.1:1/", Buffer: config.Buffer{Dir: buffer, MaxSize: 1 << 20}}}); err == nil {
		q2.Close()
		t.Error("after validate, the running agent's buffer directory was free")
	}
}
