package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
)

// TestSecretsNeverLeak runs every command of the agent with known secrets in
// the config — the gateway password (wrong, so pushes fail and errors are
// logged), an HTTP plugin's header value and bearer token, and a granted
// env var — and greps everything a user or a scraper can see for them.
func TestSecretsNeverLeak(t *testing.T) {
	const (
		gwPassword = "gw-secret-7f3a"
		header     = "hdr-secret-19c2"
		token      = "tok-secret-55d0"
		envValue   = "env-secret-a1b9"
	)
	secrets := []string{gwPassword, header, token, envValue}
	agentBin := testenv.BuildGo(t, "pushagent", "./cmd/pushagent")
	dir := t.TempDir()
	helloPlugin(t, dir)
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{Username: "u", Password: "the-right-one"})
	// An HTTP plugin that checks it received its credentials, then fails, so
	// that the agent logs an error about the collector that holds them.
	plugin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != header || r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "credentials did not arrive", http.StatusForbidden)
			return
		}
		http.Error(w, "backend down", http.StatusServiceUnavailable)
	}))
	defer plugin.Close()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte(gwPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "schedules.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
gateway:
  url: %s
  timeout: 1s
  basic_auth: {username: u, password_file: pw}
defaults: {grouping: {instance: s}}
jobs:
  - name: secrets
    every: 1s
    collectors:
      - {name: wasm, plugin: hello.wasm, config: 1, env: [SECRET_ENV]}
      - name: native
        http:
          url: %s
          headers: {X-Api-Key: "${HEADER_SECRET}"}
          bearer_token: %s
`, gw.URL, plugin.URL, token)), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"SECRET_ENV=" + envValue, "HEADER_SECRET=" + header}
	var seen strings.Builder
	runCmd := func(args ...string) {
		cmd := exec.Command(agentBin, args...)
		cmd.Env = append(os.Environ(), env...)
		out, _ := cmd.CombinedOutput()
		fmt.Fprintf(&seen, "$ pushagent %v\n%s\n", args, out)
	}
	runCmd("validate", "--config", cfg, "--cache-dir", "")
	runCmd("once", "--config", cfg, "--cache-dir", "", "--log-level", "debug")
	runCmd("once", "--config", cfg, "--cache-dir", "", "--push", "--log-format", "json")

	listen := testenv.FreeAddr(t)
	a := startAgent(t, agentBin, env, "run", "--config", cfg, "--cache-dir", "", "--listen", listen, "--log-level", "debug")
	testenv.Eventually(t, 20*time.Second, "failed pushes logged", func() bool { return strings.Contains(a.log(), "push failed") })
	testenv.Eventually(t, 10*time.Second, "the HTTP plugin got its credentials", func() bool { return strings.Contains(a.log(), "backend down") })
	resp, err := http.Get("http://" + listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Fprintf(&seen, "/metrics:\n%s\n", body)
	a.stop(t)
	fmt.Fprintf(&seen, "run log:\n%s\n", a.log())

	all := seen.String()
	if !strings.Contains(all, "401") || !strings.Contains(all, "pushagent_push_failures_total") {
		t.Fatalf("the test did not exercise failed pushes and /metrics:\n%s", all)
	}
	for _, s := range secrets {
		if strings.Contains(all, s) {
			i := strings.Index(all, s)
			t.Errorf("secret %q leaked: …%s…", s, all[max(0, i-200):min(len(all), i+100)])
		}
	}
}
