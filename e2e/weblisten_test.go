package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	toolkit "github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/pushagent/pushagent/internal/testenv"
)

// listenerClient is an HTTP client for the agent's listener: it trusts
// caFile (if any), presents cert (if any), never keeps a connection (each
// request is a new TLS handshake, so a changed web config is seen) and
// never uses a proxy.
func listenerClient(t *testing.T, caFile string, cert *testenv.KeyPair) *http.Client {
	t.Helper()
	tc := &tls.Config{}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			t.Fatal(err)
		}
		tc.RootCAs = x509.NewCertPool()
		tc.RootCAs.AppendCertsFromPEM(pem)
	}
	if cert != nil {
		kp, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{kp}
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{Proxy: nil, TLSClientConfig: tc, DisableKeepAlives: true},
	}
}

// fetch GETs url, with basic auth when user is set, and returns the status
// and body, or the error.
func fetch(c *http.Client, url, user, password string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestSecuredListener runs the real binary with --web.config.file: a TLS
// certificate and a client CA made by the test, a bcrypt user, and Go's
// HTTP client and the healthcheck command against the listener. It then
// changes the web config under the running agent to require client
// certificates, as an operator would, and checks both are enforced.
func TestSecuredListener(t *testing.T) {
	const (
		user     = "prober"
		password = "listener-pw-4c1e9a"
	)
	agentBin := testenv.BuildGo(t, "pushagent", "./cmd/pushagent")
	dir := t.TempDir()
	helloPlugin(t, dir)
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	cfg := filepath.Join(dir, "schedules.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
gateway: {url: %s, timeout: 2s}
defaults: {grouping: {instance: secured}}
jobs:
  - name: secured-listener
    every: 1s
    collectors:
      - {name: wat, plugin: hello.wasm, config: 1, timeout: 500ms}
`, gw.URL)), 0o644); err != nil {
		t.Fatal(err)
	}

	serverCA := testenv.NewCA(t, "server")
	serverCert := serverCA.Server(t, "pushagent")
	clientCA := testenv.NewCA(t, "clients")
	clientCert := clientCA.Client(t, "healthcheck")
	strangerCert := testenv.NewCA(t, "strangers").Client(t, "stranger")
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "healthcheck-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serverKey, err := os.ReadFile(serverCert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web-config.yml")
	// The user of docs/operations.md's Kubernetes probes, with the
	// password their Authorization header holds.
	probes := docProbes(t)
	probeHash, err := bcrypt.GenerateFromPassword([]byte(probes.password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	probePwFile := filepath.Join(dir, "probe-password")
	if err := os.WriteFile(probePwFile, []byte(probes.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	users := fmt.Sprintf("basic_auth_users:\n  %s: %s\n  %s: %s\n", user, hash, probes.user, probeHash)
	tlsAndUsers := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n", serverCert.CertFile, serverCert.KeyFile) + users
	writeWebConfig := func(text string) {
		t.Helper()
		// Replaced in one rename: the agent reads the file on every
		// request and must never see half of it.
		tmp := webConfig + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, webConfig); err != nil {
			t.Fatal(err)
		}
	}
	writeWebConfig(tlsAndUsers)

	// Everything a user or a scraper sees, to grep for secrets at the end.
	var seen strings.Builder
	healthcheck := func(env []string, args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(agentBin, append([]string{"healthcheck"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		fmt.Fprintf(&seen, "$ pushagent healthcheck %v\n%s\n", args, out)
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out)
	}

	// validate checks the web config too.
	out, err := exec.Command(agentBin, "validate", "--config", cfg, "--cache-dir", "", "--web.config.file", webConfig).CombinedOutput()
	fmt.Fprintf(&seen, "$ pushagent validate\n%s\n", out)
	if err != nil || !strings.Contains(string(out), "web config "+webConfig+": TLS on, basic auth for 2 user(s)") {
		t.Fatalf("validate --web.config.file: %v\n%s", err, out)
	}

	listen := testenv.FreeAddr(t)
	base := "https://" + listen
	a := startAgent(t, agentBin, nil, "run", "--config", cfg, "--cache-dir", "", "--listen", listen, "--web.config.file", webConfig)
	trusted := listenerClient(t, serverCA.CertFile, nil)
	testenv.Eventually(t, 30*time.Second, "secured listener up", func() bool {
		code, _, err := fetch(trusted, base+"/healthz", user, password)
		return err == nil && code == http.StatusOK
	})
	testenv.Eventually(t, 20*time.Second, "a push", func() bool {
		_, body, _ := fetch(trusted, base+"/metrics", user, password)
		return strings.Contains(body, `pushagent_last_successful_push_timestamp_seconds{job="secured-listener",output="gateway"}`)
	})

	for _, path := range []string{"/", "/metrics", "/healthz", "/readyz"} {
		// No credentials, or wrong ones: 401 on every endpoint.
		if code, _, err := fetch(trusted, base+path, "", ""); err != nil || code != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, %v; want 401", path, code, err)
		}
		if code, _, err := fetch(trusted, base+path, user, "wrong-"+password); err != nil || code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong password: %d, %v; want 401", path, code, err)
		}
		// The credentials over HTTPS: served.
		code, body, err := fetch(trusted, base+path, user, password)
		if err != nil || code != http.StatusOK {
			t.Errorf("GET %s with credentials over HTTPS: %d, %v; want 200\n%s", path, code, err, body)
		}
		fmt.Fprintf(&seen, "GET %s:\n%s\n", path, body)
		// Plain HTTP to the TLS port: Go's TLS server answers 400 and
		// serves nothing.
		code, body, err = fetch(listenerClient(t, "", nil), "http://"+listen+path, user, password)
		if err == nil && (code != http.StatusBadRequest || !strings.Contains(body, "HTTPS server")) {
			t.Errorf("GET %s over plain HTTP to the TLS port: %d %q; want refused", path, code, body)
		}
	}
	if _, body, _ := fetch(trusted, base+"/", user, password); !strings.Contains(body, "secured-listener") {
		t.Errorf("the status page does not show the job:\n%s", body)
	}
	// A client that does not trust the listener's CA does not get in.
	if _, _, err := fetch(listenerClient(t, "", nil), base+"/healthz", user, password); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client without the CA: %v, want a certificate error", err)
	}

	// healthcheck: passes with the CA and the password file, with
	// --insecure-skip-verify on 127.0.0.1, and from the environment alone
	// (the image's HEALTHCHECK has no arguments); fails with a hint
	// without credentials or without the CA.
	url := "--url=" + base + "/healthz"
	if code, out := healthcheck(nil, url, "--ca-file", serverCA.CertFile, "--username", user, "--password-file", pwFile); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Errorf("healthcheck with CA and credentials: exit %d\n%s", code, out)
	}
	if code, out := healthcheck(nil, url, "--insecure-skip-verify", "--username", user, "--password-file", pwFile); code != 0 {
		t.Errorf("healthcheck --insecure-skip-verify: exit %d\n%s", code, out)
	}
	if code, out := healthcheck([]string{
		"PUSHAGENT_HEALTHCHECK_URL=" + base + "/readyz",
		"PUSHAGENT_HEALTHCHECK_CA_FILE=" + serverCA.CertFile,
		"PUSHAGENT_HEALTHCHECK_USERNAME=" + user,
		"PUSHAGENT_HEALTHCHECK_PASSWORD_FILE=" + pwFile,
	}); code != 0 {
		t.Errorf("healthcheck from the environment: exit %d\n%s", code, out)
	}
	if code, out := healthcheck(nil, url, "--ca-file", serverCA.CertFile); code != 1 || !strings.Contains(out, "401") || !strings.Contains(out, "--password-file") {
		t.Errorf("healthcheck without credentials: exit %d, want 1 naming 401 and --password-file\n%s", code, out)
	}
	wrongPw := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrongPw, []byte("wrong-"+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := healthcheck(nil, url, "--ca-file", serverCA.CertFile, "--username", user, "--password-file", wrongPw); code != 1 || !strings.Contains(out, "refused the credentials") || strings.Contains(out, "give --username") {
		t.Errorf("healthcheck with a wrong password: exit %d, want 1 saying the credentials were refused\n%s", code, out)
	}
	if code, out := healthcheck(nil, url, "--username", user, "--password-file", pwFile); code != 1 || !strings.Contains(out, "--ca-file") {
		t.Errorf("healthcheck without the CA: exit %d, want 1 pointing at --ca-file\n%s", code, out)
	}
	if code, out := healthcheck(nil, "--url=http://"+listen+"/healthz"); code != 1 || !strings.Contains(out, "https://") {
		t.Errorf("healthcheck over plain HTTP: exit %d, want 1 pointing at https://\n%s", code, out)
	}
	// The docs' httpGet probes, sent as the kubelet sends them: HTTPS
	// without verifying the certificate, the documented header.
	kubelet := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}}
	for _, p := range probes.httpGets {
		req, err := http.NewRequest(http.MethodGet, strings.ToLower(p.scheme)+"://"+listen+p.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(p.header, p.value)
		resp, err := kubelet.Do(req)
		if err != nil {
			t.Errorf("docs' httpGet probe %s: %v", p.path, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("docs' httpGet probe %s: %s, want 200", p.path, resp.Status)
		}
	}

	// The operator now requires client certificates from the clients' CA.
	// The toolkit reads the file at every handshake: no restart.
	writeWebConfig(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n  client_ca_file: %s\n  client_auth_type: RequireAndVerifyClientCert\n",
		serverCert.CertFile, serverCert.KeyFile, clientCA.CertFile) + users)
	withCert := listenerClient(t, serverCA.CertFile, &clientCert)
	testenv.Eventually(t, 10*time.Second, "client certificates required", func() bool {
		_, _, err := fetch(trusted, base+"/healthz", user, password)
		return err != nil
	})
	if code, _, err := fetch(withCert, base+"/healthz", user, password); err != nil || code != http.StatusOK {
		t.Errorf("with a client certificate and credentials: %d, %v; want 200", code, err)
	}
	if code, _, err := fetch(withCert, base+"/healthz", "", ""); err != nil || code != http.StatusUnauthorized {
		t.Errorf("with a client certificate, no credentials: %d, %v; want 401", code, err)
	}
	if _, _, err := fetch(listenerClient(t, serverCA.CertFile, &strangerCert), base+"/healthz", user, password); err == nil {
		t.Error("a client certificate from another CA was accepted")
	}
	if code, out := healthcheck(nil, url, "--ca-file", serverCA.CertFile, "--username", user, "--password-file", pwFile,
		"--cert-file", clientCert.CertFile, "--key-file", clientCert.KeyFile); code != 0 {
		t.Errorf("healthcheck with a client certificate: exit %d\n%s", code, out)
	}
	if code, out := healthcheck(nil, url, "--ca-file", serverCA.CertFile, "--username", user, "--password-file", pwFile); code != 1 || !strings.Contains(out, "--cert-file") {
		t.Errorf("healthcheck without a client certificate: exit %d, want 1 pointing at --cert-file\n%s", code, out)
	}
	// The docs' exec probes, for this case, run as they are written; only
	// where things are changes.
	where := strings.NewReplacer("https://127.0.0.1:9465", base,
		"/etc/pushagent/tls/probe.crt", clientCert.CertFile, "/etc/pushagent/tls/probe.key", clientCert.KeyFile,
		"/etc/pushagent/secrets/healthcheck_password", probePwFile)
	for _, command := range probes.execs {
		if len(command) < 2 || command[0] != "pushagent" || command[1] != "healthcheck" {
			t.Fatalf("docs' exec probe is not pushagent healthcheck: %q", command)
		}
		args := make([]string, 0, len(command)-2)
		for _, a := range command[2:] {
			args = append(args, where.Replace(a))
		}
		if code, out := healthcheck(nil, args...); code != 0 {
			t.Errorf("docs' exec probe %q: exit %d\n%s", command, code, out)
		}
	}

	a.stop(t)
	fmt.Fprintf(&seen, "run log:\n%s\n", a.log())
	all := seen.String()
	if !strings.Contains(all, "TLS is enabled") {
		t.Errorf("the agent did not log that TLS is on:\n%s", a.log())
	}
	for _, secret := range []string{password, string(hash), string(probeHash), strings.TrimSpace(string(serverKey))} {
		if i := strings.Index(all, secret); i >= 0 {
			t.Errorf("a secret leaked: …%s…", all[max(0, i-200):min(len(all), i+50)])
		}
	}
}

// TestBadWebConfigRefused: run and validate refuse a bad web config with
// a message naming the file and the field, run before compiling a plugin.
func TestBadWebConfigRefused(t *testing.T) {
	agentBin := testenv.BuildGo(t, "pushagent", "./cmd/pushagent")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "schedules.yaml")
	// A plugin that does not exist: run must fail on the web config first.
	if err := os.WriteFile(cfg, []byte("gateway: {url: http://127.0.0.1:1}\njobs:\n  - {name: j, every: 1m, collectors: [{name: c, plugin: none.wasm}]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"missing cert", "tls_server_config:\n  cert_file: missing.pem\n  key_file: missing-key.pem\n",
			"tls_server_config.cert_file: cannot read " + filepath.Join(dir, "missing.pem") + ": no such file or directory"},
		{"bad hash", "basic_auth_users:\n  alice: plain-text-pw\n", "basic_auth_users.alice: not a bcrypt hash"},
		{"unknown key", "tls_server_config:\n  cert: x\n  keyfile: y\n", `line 3: unknown key "keyfile" in tls_server_config`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			web := filepath.Join(dir, "web.yml")
			if err := os.WriteFile(web, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"run", "--config", cfg, "--listen", testenv.FreeAddr(t), "--web.config.file", web},
				{"validate", "--config", cfg, "--web.config.file", web},
			} {
				cmd := exec.Command(agentBin, args...)
				out, err := cmd.CombinedOutput()
				ee, ok := err.(*exec.ExitError)
				if !ok || ee.ExitCode() != 2 {
					t.Errorf("pushagent %s: %v, want exit 2\n%s", args[0], err, out)
				}
				if want := "--web.config.file " + web + ": " + tc.want; !strings.Contains(string(out), want) {
					t.Errorf("pushagent %s: output does not contain %q:\n%s", args[0], want, out)
				}
				if strings.Contains(string(out), "plain-text-pw") {
					t.Errorf("pushagent %s printed the plain-text password:\n%s", args[0], out)
				}
				if args[0] == "run" && strings.Contains(string(out), "none.wasm") {
					t.Errorf("run looked at the plugins before refusing the web config:\n%s", out)
				}
			}
		})
	}
}

// docProbes are the Kubernetes probes of docs/operations.md ("Securing the
// listener"): the httpGet probes' header and the exec probes' commands.
type docProbeSet struct {
	httpGets []struct{ path, scheme, header, value string }
	execs    [][]string
	// user and password are what the Authorization header holds.
	user, password string
}

func docProbes(t *testing.T) docProbeSet {
	t.Helper()
	type probe struct {
		HTTPGet *struct {
			Path        string `yaml:"path"`
			Scheme      string `yaml:"scheme"`
			HTTPHeaders []struct {
				Name  string `yaml:"name"`
				Value string `yaml:"value"`
			} `yaml:"httpHeaders"`
		} `yaml:"httpGet"`
		Exec *struct {
			Command []string `yaml:"command"`
		} `yaml:"exec"`
	}
	var set docProbeSet
	for _, b := range fencedBlocks(t, readDoc(t, "operations.md")) {
		if b.lang != "yaml" || !strings.HasPrefix(b.text, "livenessProbe:") {
			continue
		}
		var probes map[string]probe
		if err := yaml.Unmarshal([]byte(b.text), &probes); err != nil {
			t.Fatalf("operations.md:%d: %v", b.line, err)
		}
		for name, p := range probes {
			switch {
			case p.HTTPGet != nil:
				if len(p.HTTPGet.HTTPHeaders) != 1 || p.HTTPGet.HTTPHeaders[0].Name != "Authorization" {
					t.Fatalf("operations.md:%d: %s: want one Authorization header", b.line, name)
				}
				h := p.HTTPGet.HTTPHeaders[0]
				enc, ok := strings.CutPrefix(h.Value, "Basic ")
				raw, err := base64.StdEncoding.DecodeString(enc)
				user, password, found := strings.Cut(string(raw), ":")
				if !ok || err != nil || !found {
					t.Fatalf("operations.md:%d: %s: %q is not Basic base64(user:password)", b.line, name, h.Value)
				}
				if set.user != "" && (set.user != user || set.password != password) {
					t.Fatalf("operations.md:%d: the probes use different credentials", b.line)
				}
				set.user, set.password = user, password
				set.httpGets = append(set.httpGets, struct{ path, scheme, header, value string }{p.HTTPGet.Path, p.HTTPGet.Scheme, h.Name, h.Value})
			case p.Exec != nil:
				set.execs = append(set.execs, p.Exec.Command)
			}
		}
	}
	if len(set.httpGets) != 2 || len(set.execs) != 2 {
		t.Fatalf("operations.md: found %d httpGet and %d exec probes, want a liveness and a readiness probe of each", len(set.httpGets), len(set.execs))
	}
	// The header's user is one of the example web config's users.
	var web struct {
		Users map[string]string `yaml:"basic_auth_users"`
	}
	if err := yaml.Unmarshal([]byte(docWebConfig(t)), &web); err != nil {
		t.Fatal(err)
	}
	if _, ok := web.Users[set.user]; !ok {
		t.Fatalf("operations.md: the probes' user %q is not in the example web config", set.user)
	}
	return set
}

// docWebConfig is docs/operations.md's example web config.
func docWebConfig(t *testing.T) string {
	t.Helper()
	for _, b := range fencedBlocks(t, readDoc(t, "operations.md")) {
		if b.lang == "yaml" && strings.HasPrefix(b.text, "# /etc/pushagent/web-config.yml\n") {
			return b.text
		}
	}
	t.Fatal("operations.md has no example web config (a yaml block starting with # /etc/pushagent/web-config.yml)")
	return ""
}

// TestDocsWebConfigExample: the example web config of docs/operations.md
// is accepted by exporter-toolkit as written (its relative certificate
// paths next to it), and so is its commented client-certificate variant.
func TestDocsWebConfigExample(t *testing.T) {
	text := docWebConfig(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := testenv.NewCA(t, "docs")
	kp := ca.Server(t, "pushagent")
	for src, dst := range map[string]string{kp.CertFile: "tls/pushagent.crt", kp.KeyFile: "tls/pushagent.key", ca.CertFile: "tls/clients-ca.crt"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	uncommented := strings.NewReplacer("# client_ca_file:", "client_ca_file:", "# client_auth_type:", "client_auth_type:").Replace(text)
	if uncommented == text {
		t.Fatal("operations.md's example web config has no commented client_ca_file/client_auth_type")
	}
	for name, body := range map[string]string{"as written": text, "with client certificates": uncommented} {
		path := filepath.Join(dir, "web-config.yml")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := toolkit.Validate(path); err != nil {
			t.Errorf("operations.md's example web config, %s: %v", name, err)
		}
	}
}

// The commands docs/operations.md gives for making the listener's secrets,
// run as written: the hashes hash-password prints and the certificate
// openssl makes secure a real listener that the health check then passes,
// verifying the certificate for 127.0.0.1.
func TestDocsSecretsCommands(t *testing.T) {
	testenv.RequireBinary(t, "openssl")
	agentBin := testenv.BuildGo(t, "pushagent", "./cmd/pushagent")
	doc := readDoc(t, "operations.md")
	_, block, ok := strings.Cut(doc, "<!-- docs-test: secrets -->\n```sh\n")
	if !ok {
		t.Fatal("docs/operations.md has no secrets block (<!-- docs-test: secrets -->)")
	}
	block, _, _ = strings.Cut(block, "```")
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(agentBin, filepath.Join(bin, "pushagent")); err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join(dir, "etc")
	if err := os.Mkdir(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", block)
	cmd.Dir = etc
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the documented commands failed: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	hashes := strings.Fields(stdout.String())
	if len(hashes) != 2 || !strings.HasPrefix(hashes[0], "$2a$10$") || !strings.HasPrefix(hashes[1], "$2a$10$") {
		t.Fatalf("hash-password printed %q, want two bcrypt hashes", stdout.String())
	}
	for i, user := range []string{"prometheus", "healthcheck"} {
		pw, err := os.ReadFile(filepath.Join(etc, user+"_password"))
		if err != nil {
			t.Fatal(err)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(hashes[i]), []byte(strings.TrimSpace(string(pw)))); err != nil {
			t.Errorf("the hash printed for %s does not match its password file: %v", user, err)
		}
	}
	if err := os.WriteFile(filepath.Join(etc, "web-config.yml"), []byte(fmt.Sprintf(
		"tls_server_config:\n  cert_file: tls/pushagent.crt\n  key_file: tls/pushagent.key\nbasic_auth_users:\n  prometheus: %s\n  healthcheck: %s\n",
		hashes[0], hashes[1])), 0o600); err != nil {
		t.Fatal(err)
	}
	helloPlugin(t, etc)
	// No push is needed for /healthz: the gateway may be down.
	if err := os.WriteFile(filepath.Join(etc, "schedules.yaml"), []byte(
		"gateway: {url: http://127.0.0.1:1}\njobs:\n  - {name: j, every: 1m, collectors: [{name: c, plugin: hello.wasm, config: 1}]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := testenv.FreeAddr(t)
	startAgent(t, agentBin, nil, "run", "--config", filepath.Join(etc, "schedules.yaml"), "--cache-dir", "",
		"--listen", listen, "--web.config.file", filepath.Join(etc, "web-config.yml"))
	var out []byte
	testenv.Eventually(t, 30*time.Second, "the health check passes with the documented secrets", func() bool {
		var err error
		out, err = exec.Command(agentBin, "healthcheck", "--url", "https://"+listen+"/healthz",
			"--ca-file", filepath.Join(etc, "tls", "pushagent.crt"),
			"--username", "healthcheck", "--password-file", filepath.Join(etc, "healthcheck_password")).CombinedOutput()
		return err == nil && strings.TrimSpace(string(out)) == "ok"
	})
}
