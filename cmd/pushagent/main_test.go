package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
