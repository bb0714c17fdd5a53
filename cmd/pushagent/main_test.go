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
		{[]string{"version"}, exitOK, "pushagent, version ", ""},
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
