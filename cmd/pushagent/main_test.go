package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/remotewrite"
	"github.com/pushagent/pushagent/internal/testenv"
)

func TestCLI(t *testing.T) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }))
	defer healthy.Close()
	refuses := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "Unauthorized", http.StatusUnauthorized) }))
	defer refuses.Close()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
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
		{[]string{"version"}, exitOK, "pushagent, version ", ""},
		{[]string{"run", "-h"}, exitOK, "", "-listen"},
		{[]string{"once", "-h"}, exitOK, "", "-job"},
		{[]string{"validate", "-h"}, exitOK, "", "-config"},
		{[]string{"validate", "--config", filepath.Join(dir, "missing.yaml")}, exitUsage, "", "missing.yaml"},
		{[]string{"validate", "--config", bad}, exitUsage, "", "gateway.url"},
		{[]string{"validate", "--config", bad, "extra"}, exitUsage, "", `unexpected argument "extra"`},
		{[]string{"run", "--config", bad, "--log-level", "loud"}, exitUsage, "", "--log-level"},
		{[]string{"healthcheck", "--url", "http://127.0.0.1:1/healthz", "--timeout", "1s"}, exitFailed, "", "connection refused; nothing listens there: the agent serves /healthz only when run with --listen"},
		{[]string{"healthcheck", "--url", refuses.URL, "--username", "hc", "--password-file", pw}, exitFailed, "", `answered 401 Unauthorized; the listener refused the credentials of user "hc"`},
		{[]string{"healthcheck", "--url", refuses.URL}, exitFailed, "", "answered 401 Unauthorized; the listener wants basic auth: give --username and --password-file"},
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
  - name: short
    every: 5s
    collectors:
      - {name: c, plugin: hello.wasm}
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
		// The default timeout, 5s, does not fit every 5s: lowered, not warned about.
		`job "short": every 5s, put, grouping no grouping labels, 1 collector(s), default timeout lowered to 3.5s to fit every 5s`,
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("validate output lacks %s:\n%s", want, stdout.String())
		}
	}
	if strings.Contains(stdout.String(), "does not fit") {
		t.Errorf("validate warns about the default timeout, which the user never set:\n%s", stdout.String())
	}
	// once and run log the same warning at start; run here stops at its
	// --listen address, taken, right after the start.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, args := range [][]string{
		{"once", "--config", cfg, "--cache-dir", ""},
		{"run", "--config", cfg, "--cache-dir", "", "--listen", taken.Addr().String()},
	} {
		var stdout, stderr bytes.Buffer
		realMain(args, &stdout, &stderr)
		want := `config.proc is \"/proc\", a path no mount grants (the collector has no mounts): the plugin cannot open it; add mounts: {/proc: /host/dir}`
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("pushagent %s logged no mount warning at start:\n%s", args[0], stderr.String())
		}
	}
}

// once --push reports every output, the ones that worked too, and each
// failure is logged once, by the agent, with its output; it used to print
// nothing when any output failed, and log the failure twice.
func TestOncePushReportsEveryOutput(t *testing.T) {
	wat2wasm := testenv.RequireBinary(t, "wat2wasm")
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	dir := t.TempDir()
	wasm := filepath.Join(dir, "hello.wasm")
	if b, err := exec.Command(wat2wasm, filepath.Join("..", "..", "agent", "wasmhost", "testdata", "hello.wat"), "-o", wasm).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	cfg := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`gateway: {url: %s}
outputs:
  dead: {pushgateway: {url: "http://%s", timeout: 1s}}
  vm: {remote_write: {url: "http://%s/api/v1/write", timeout: 1s, buffer: {dir: %s}}}
defaults: {grouping: {instance: i}}
jobs:
  - {name: j, every: 1m, collectors: [{name: c, plugin: hello.wasm, config: 1}]}
`, gw.URL, testenv.FreeAddr(t), testenv.FreeAddr(t), filepath.Join(dir, "buf"))), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"once", "--push", "--config", cfg, "--cache-dir", ""}, &stdout, &stderr); code != exitFailed {
		t.Errorf("code %d, want %d: an output failed", code, exitFailed)
	}
	out := stdout.String()
	for _, want := range []string{
		`pushed job "j" (instance="i") to output "gateway" (pushgateway ` + gw.URL + `): `,
		`push of job "j" (instance="i") to output "dead" (pushgateway http://`,
		`push of job "j" (instance="i") to output "vm" (remote_write http://`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %s:\n%s", want, out)
		}
	}
	log := stderr.String()
	for _, o := range []string{"dead", "vm"} {
		if n := strings.Count(log, `msg="push failed" job=j output=`+o+" "); n != 1 {
			t.Errorf("output %s's failure logged %d times, want once:\n%s", o, n, log)
		}
	}
	if n := strings.Count(log, "push failed"); n != 2 {
		t.Errorf("%d push failures logged, want 2 (dead, vm):\n%s", n, log)
	}
}

// hash-password prints a hash basic_auth_users accepts, from a file or
// standard input, and refuses what bcrypt cannot hash.
func TestHashPassword(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func(r io.Reader) { stdin = r }(stdin)
	for _, tc := range []struct {
		args   []string
		stdin  string
		code   int
		stderr string
	}{
		{[]string{"--password-file", pw}, "", exitOK, ""},
		{[]string{"--cost", "4"}, "s3cret\nnext line\n", exitOK, ""},
		{nil, "", exitUsage, "the password is empty"},
		{[]string{"--cost", "99"}, "s3cret\n", exitUsage, "--cost 99"},
		{nil, strings.Repeat("x", 73) + "\n", exitUsage, "longer than bcrypt's 72 bytes"},
		{[]string{"--password-file", filepath.Join(dir, "nope")}, "", exitUsage, "--password-file"},
	} {
		stdin = strings.NewReader(tc.stdin)
		var stdout, stderr bytes.Buffer
		code := realMain(append([]string{"hash-password"}, tc.args...), &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("hash-password %v: code %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.stderr)
		}
		if code != exitOK {
			continue
		}
		if err := bcrypt.CompareHashAndPassword(bytes.TrimSpace(stdout.Bytes()), []byte("s3cret")); err != nil {
			t.Errorf("hash-password %v printed %q, not a hash of the password: %v", tc.args, stdout.String(), err)
		}
		if strings.Contains(stdout.String()+stderr.String(), "s3cret") {
			t.Errorf("hash-password %v printed the password", tc.args)
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
