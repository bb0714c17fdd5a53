package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pushagent/pushagent/internal/testenv"
)

// TestVersionInformation builds the agent as a release is built, with
// github.com/prometheus/common/version set by -ldflags -X (the Makefile's
// LDFLAGS), and checks that `pushagent version` prints it as Prometheus
// components do and that /metrics exports it as pushagent_build_info. A
// plain build, without the flags, still names its Go version and says
// "devel" rather than printing empty fields.
func TestVersionInformation(t *testing.T) {
	const pkg = "github.com/prometheus/common/version"
	want := map[string]string{
		"Version":   "1.2.3-rc.1",
		"Revision":  "0123456789abcdef0123456789abcdef01234567",
		"Branch":    "release-1.2",
		"BuildUser": "builder@ci",
		"BuildDate": "20260102-03:04:05",
	}
	var ldflags []string
	for k, v := range want {
		ldflags = append(ldflags, "-X", pkg+"."+k+"="+v)
	}
	release := testenv.BuildGoArgs(t, "pushagent-release", "./cmd/pushagent", []string{"-ldflags=" + strings.Join(ldflags, " ")})

	out, err := exec.Command(release, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("pushagent version: %v\n%s", err, out)
	}
	wantOut := fmt.Sprintf(`pushagent, version 1.2.3-rc.1 (branch: release-1.2, revision: 0123456789abcdef0123456789abcdef01234567)
  build user:       builder@ci
  build date:       20260102-03:04:05
  go version:       %s
  platform:         `, goVersion(t))
	if !strings.HasPrefix(string(out), wantOut) {
		t.Errorf("pushagent version printed\n%s\nwant it to start with\n%s", out, wantOut)
	}

	plain := build(t).agent
	out, err = exec.Command(plain, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("pushagent version (plain build): %v\n%s", err, out)
	}
	if !regexp.MustCompile(`^pushagent, version devel \(branch: unknown, revision: \S+\)\n(?s:.*)go version:\s+go1\.`).Match(out) ||
		strings.Contains(string(out), ":  \n") || strings.Contains(string(out), "()") {
		t.Errorf("pushagent version of a build without -ldflags:\n%s", out)
	}

	// /metrics of a running agent.
	art := build(t)
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "schedules.yaml")
	y := fmt.Sprintf("gateway: {url: %s}\njobs:\n  - name: v\n    every: 1h\n    collectors:\n      - {name: hello, plugin: %s}\n", gw.URL, art.watHello)
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := testenv.FreeAddr(t)
	a := startAgent(t, release, nil, "run", "--config", cfg, "--cache-dir", filepath.Join(dir, "cache"), "--listen", listen)
	var fams map[string]*dto.MetricFamily
	testenv.Eventually(t, 20*time.Second, "/metrics of the agent", func() bool {
		fams = scrapeFamilies(t, "http://"+listen+"/metrics")
		return fams != nil
	})
	bi := fams["pushagent_build_info"]
	if bi == nil || len(bi.GetMetric()) != 1 {
		t.Fatalf("/metrics has no single pushagent_build_info: %v", bi)
	}
	m := bi.GetMetric()[0]
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	for label, v := range map[string]string{"version": want["Version"], "revision": want["Revision"], "branch": want["Branch"], "goversion": goVersion(t)} {
		if got := labels[label]; got != v {
			t.Errorf("pushagent_build_info{%s=%q}, want %q", label, got, v)
		}
	}
	if v := m.GetGauge().GetValue(); v != 1 {
		t.Errorf("pushagent_build_info = %v, want 1", v)
	}
	a.stop(t)
}

// goVersion is the version of the go command that builds the agents.
func goVersion(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(testenv.RequireBinary(t, "go"), "env", "GOVERSION").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// scrapeFamilies GETs a /metrics page and returns its families by name,
// or nil while the agent does not answer.
func scrapeFamilies(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return fams
}
