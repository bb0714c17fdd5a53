package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/pushagent/pushagent/internal/testenv"
)

// TestCheckWebConfig: every mistake names the file and the field (or the
// line), says what to do where there is something to say, and never
// prints a hash, a key or a plain-text password put where a hash belongs.
func TestCheckWebConfig(t *testing.T) {
	ca := testenv.NewCA(t, "check")
	srv := ca.Server(t, "server")
	other := ca.Server(t, "other")
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("no certificate here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tlsOK := "tls_server_config:\n  cert_file: " + srv.CertFile + "\n  key_file: " + srv.KeyFile + "\n"
	cases := []struct {
		name, yaml string
		want       []string // substrings of the error; none: valid
		summary    string
		notShown   string
	}{
		{name: "tls and users", yaml: tlsOK + "basic_auth_users:\n  alice: " + string(hash) + "\n", summary: "TLS on, basic auth for 1 user(s)"},
		{name: "client certificates", yaml: tlsOK + "  client_ca_file: " + ca.CertFile + "\n  client_auth_type: RequireAndVerifyClientCert\n",
			summary: "TLS on (client certificates: RequireAndVerifyClientCert), no basic auth"},
		{name: "relative paths", yaml: "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n", summary: "TLS on, no basic auth"},
		{name: "empty", yaml: "", summary: "TLS off, no basic auth"},
		{name: "unknown top-level key", yaml: "basic_auth_user:\n  alice: x\n",
			want: []string{`line 1: unknown key "basic_auth_user" at the top level`, "basic_auth_users"}},
		{name: "unknown tls key", yaml: "tls_server_config:\n  certfile: x\n",
			want: []string{`line 2: unknown key "certfile" in tls_server_config`}},
		{name: "not yaml", yaml: "basic_auth_users: [\n", want: []string{"not valid YAML"}},
		{name: "plain-text password", yaml: "basic_auth_users:\n  alice: hunter2-plain\n  bob: " + string(hash) + "\n",
			want: []string{"basic_auth_users.alice: not a bcrypt hash", "htpasswd"}, notShown: "hunter2-plain"},
		{name: "scalar for a map", yaml: "basic_auth_users: hunter2-plain\n", want: []string{"line 1: cannot unmarshal !!str into map"}, notShown: "hunter2"},
		{name: "short password", yaml: "basic_auth_users:\n  alice: $2a$10$Xy\n", want: []string{"basic_auth_users.alice: not a bcrypt hash (too short"}, notShown: "Xy"},
		{name: "missing cert", yaml: "tls_server_config:\n  cert_file: " + filepath.Join(dir, "gone.pem") + "\n  key_file: " + srv.KeyFile + "\n",
			want: []string{"tls_server_config.cert_file: cannot read " + filepath.Join(dir, "gone.pem") + ": no such file or directory"}},
		{name: "no cert", yaml: "tls_server_config:\n  key_file: " + srv.KeyFile + "\n", want: []string{"tls_server_config: no certificate: set cert_file"}},
		{name: "client ca not PEM", yaml: tlsOK + "  client_ca_file: " + notPEM + "\n  client_auth_type: RequireAndVerifyClientCert\n",
			want: []string{"tls_server_config.client_ca_file: " + notPEM + " holds no PEM certificate"}},
		{name: "client auth type", yaml: tlsOK + "  client_auth_type: RequireCert\n", want: []string{`tls_server_config.client_auth_type: "RequireCert" is not one of`}},
		{name: "client ca without auth type", yaml: tlsOK + "  client_ca_file: " + ca.CertFile + "\n", want: []string{"tls_server_config.client_auth_type: a client CA is set"}},
		{name: "key of another certificate", yaml: "tls_server_config:\n  cert_file: " + srv.CertFile + "\n  key_file: " + other.KeyFile + "\n",
			want: []string{"tls_server_config: failed to load X509KeyPair"}},
		{name: "header", yaml: "http_server_config:\n  headers:\n    X-Custom: 1\n", want: []string{`HTTP header "X-Custom" can not be configured`}},
	}
	key, err := os.ReadFile(srv.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(filepath.Dir(srv.CertFile), "web.yml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			sec, err := checkWebConfig(path)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("checkWebConfig: %v", err)
				}
				if sec.String() != tc.summary {
					t.Errorf("summary %q, want %q", sec, tc.summary)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkWebConfig accepted:\n%s", tc.yaml)
			}
			msg := err.Error()
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, "--web.config.file "+path+": ") {
					t.Errorf("error line does not name the file: %q", line)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			for _, secret := range []string{string(hash), string(key), tc.notShown} {
				if secret != "" && strings.Contains(msg, secret) {
					t.Errorf("error shows a secret (%q): %s", secret, msg)
				}
			}
		})
	}
	if _, err := checkWebConfig(filepath.Join(dir, "missing.yml")); err == nil ||
		err.Error() != "--web.config.file "+filepath.Join(dir, "missing.yml")+": cannot read the file: no such file or directory; check the path and its permissions" {
		t.Errorf("missing file: %v", err)
	}
}

func TestWebSecurityWarnings(t *testing.T) {
	for _, tc := range []struct {
		sec  webSecurity
		want string
	}{
		{webSecurity{}, "neither TLS nor basic_auth_users"},
		{webSecurity{Users: 1}, "clear text"},
		{webSecurity{TLS: true}, ""},
		{webSecurity{TLS: true, Users: 2}, ""},
	} {
		got := strings.Join(tc.sec.warnings(), "\n")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%+v: warnings %q, want %q", tc.sec, got, tc.want)
		}
	}
}

// TestHealthcheckRefuses: flag combinations that cannot work, or that
// would weaken the check, are refused before any request, and a secret is
// never echoed.
func TestHealthcheckRefuses(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	empty := filepath.Join(dir, "empty")
	for path, content := range map[string]string{pw: "s3cret-hc\n", empty: "\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--url", "https://u:s3cret-hc@127.0.0.1:1/healthz"}, "--url must not hold a password"},
		{[]string{"--url", "https://pushagent.example:9465/healthz", "--insecure-skip-verify"}, "only for a listener on this host"},
		{[]string{"--url", "http://127.0.0.1:1/healthz", "--ca-file", pw}, "need an https:// --url"},
		{[]string{"--url", "ftp://127.0.0.1:1/healthz"}, "the scheme must be http or https"},
		{[]string{"--username", "u"}, "--username and --password-file go together"},
		{[]string{"--password-file", pw}, "--username and --password-file go together"},
		{[]string{"--username", "u", "--password-file", empty}, "is empty"},
		{[]string{"--username", "u", "--password-file", filepath.Join(dir, "nope")}, "--password-file: open"},
		{[]string{"--url", "https://127.0.0.1:1/healthz", "--cert-file", pw}, "--cert-file and --key-file go together"},
		{[]string{"--url", "https://127.0.0.1:1/healthz", "--ca-file", pw}, "holds no PEM certificate"},
	}
	for _, tc := range cases {
		var stdout, stderr strings.Builder
		code := realMain(append([]string{"healthcheck"}, tc.args...), &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("healthcheck %v: code %d, stderr %q; want code %d and %q", tc.args, code, stderr.String(), exitUsage, tc.want)
		}
		if strings.Contains(stderr.String(), "s3cret-hc") {
			t.Errorf("healthcheck %v printed the password: %s", tc.args, stderr.String())
		}
	}
}

// TestHealthcheckEnvironment: the image's HEALTHCHECK has no arguments, so
// every flag can come from the environment; a flag still wins.
func TestHealthcheckEnvironment(t *testing.T) {
	t.Setenv("PUSHAGENT_HEALTHCHECK_URL", "https://pushagent.example:9465/healthz")
	t.Setenv("PUSHAGENT_HEALTHCHECK_INSECURE_SKIP_VERIFY", "true")
	var stdout, stderr strings.Builder
	if code := realMain([]string{"healthcheck"}, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "not pushagent.example") {
		t.Errorf("environment not used: code %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	if code := realMain([]string{"healthcheck", "--insecure-skip-verify=false", "--url", "http://127.0.0.1:1/healthz", "--timeout", "1s"}, &stdout, &stderr); code != exitFailed || !strings.Contains(stderr.String(), "connection refused") {
		t.Errorf("flags do not override the environment: code %d, stderr %q", code, stderr.String())
	}
	t.Setenv("PUSHAGENT_HEALTHCHECK_INSECURE_SKIP_VERIFY", "yes please")
	stderr.Reset()
	if code := realMain([]string{"healthcheck"}, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), `PUSHAGENT_HEALTHCHECK_INSECURE_SKIP_VERIFY="yes please" is not true or false`) {
		t.Errorf("bad boolean: code %d, stderr %q", code, stderr.String())
	}
}
