package config_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/agent/config"
)

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// leak is a secret that must never be printed. Each test below puts it
// somewhere secret and checks every way of printing the result.
const leak = "hunter2-LEAK"

func TestSecretsNotPrinted(t *testing.T) {
	dir, path := fixture(t)
	if err := os.WriteFile(filepath.Join(dir, "secrets", "leak"), []byte(leak+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := testOptions("SECRET=" + leak)
	cases := map[string]string{
		"password": `
gateway: {url: "http://gw:9091", basic_auth: {username: u, password: "` + leak + `"}}
jobs: [{name: j, every: 1s, collectors: [{name: c, plugin: plugins/textfile.wasm}]}]`,
		"password file": `
gateway: {url: "http://gw:9091", basic_auth: {username: u, password_file: secrets/leak}}
jobs: [{name: j, every: 1s, collectors: [{name: c, plugin: plugins/textfile.wasm}]}]`,
		"bearer from env": `
gateway: {url: "http://gw:9091", bearer_token: "${SECRET}"}
jobs: [{name: j, every: 1s, collectors: [{name: c, plugin: plugins/textfile.wasm}]}]`,
		"plugin config and env grant": `
gateway: {url: "http://gw:9091"}
jobs: [{name: j, every: 1s, collectors: [{name: c, plugin: plugins/textfile.wasm, config: {token: "${SECRET}"}, env: [SECRET]}]}]`,
	}
	for name, yaml := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(yaml), path, opts)
			if err != nil {
				t.Fatal(err)
			}
			var outputs []string
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
				for _, v := range []any{cfg, *cfg, cfg.Gateway, cfg.Gateway.BasicAuth, cfg.Jobs, cfg.Jobs[0].Collectors[0]} {
					outputs = append(outputs, fmt.Sprintf(verb, v))
				}
			}
			b, err := json.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			outputs = append(outputs, string(b))
			for _, out := range outputs {
				if strings.Contains(out, leak) || strings.Contains(out, fmt.Sprintf("%x", leak)) {
					t.Errorf("secret printed: %s", out)
				}
			}
			if all := strings.Join(outputs, "\n"); !strings.Contains(all, "<secret>") {
				t.Errorf("no <secret> in output:\n%s", all)
			}
		})
	}
}

// TestSecretsNotInErrors puts the secret where validation fails and checks
// the messages.
func TestSecretsNotInErrors(t *testing.T) {
	dir, path := fixture(t)
	big := strings.Repeat(leak, 10000)
	if err := os.WriteFile(filepath.Join(dir, "secrets", "big"), []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := testOptions("SECRET=" + leak)
	jobs := "\njobs: [{name: j, every: 1s, collectors: [{name: c, plugin: plugins/textfile.wasm}]}]"
	for _, yaml := range []string{
		leak,
		"- " + leak,
		`gateway: {url: "http://u:` + leak + `@gw:9091"}` + jobs,
		`gateway: {url: "http://u:` + leak + `@gw:9091/%zz"}` + jobs,
		`gateway: {url: "http://gw:9091", basic_auth: {username: u, password: [` + leak + `]}}` + jobs,
		`gateway: {url: "http://gw:9091", basic_auth: {username: u, password: ` + leak + `, password_file: secrets/password}}` + jobs,
		`gateway: {url: "http://gw:9091", basic_auth: {username: u, password: "${SECRET}"}, bearer_token: "${SECRET}"}` + jobs,
		`gateway: {url: "http://gw:9091", bearer_token: {` + leak + `: 1}}` + jobs,
		`gateway: {url: "http://gw:9091", bearer_token_file: secrets/big}` + jobs,
		`gateway: {url: "http://gw:9091", bearer_token: "` + leak + `$HOME"}` + jobs,
		`gateway: {url: "http://gw:9091", bearer_token: "` + leak + `${NOPE"}` + jobs,
		"gateway: {url: http://gw:9091, bearer_token: \"" + leak + "\n\t\"}:" + jobs,
	} {
		_, err := config.Parse([]byte(yaml), path, opts)
		if err == nil {
			t.Errorf("no error for %s", yaml)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("secret in error: %v", err)
		}
	}
}

// TestCollectorPrintsHTTPURL: the redacted form of an HTTP collector says
// where it goes, without its credentials.
func TestCollectorPrintsHTTPURL(t *testing.T) {
	_, path := fixture(t)
	cfg, err := config.Parse([]byte(`
gateway: {url: "http://gw:9091"}
jobs: [{name: j, every: 1s, collectors: [{name: c, http: {url: "https://app.internal:8443/collect", bearer_token: "`+leak+`"}}]}]`), path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("%+v", cfg.Jobs[0].Collectors[0])
	if !strings.Contains(out, "HTTP:https://app.internal:8443/collect") || strings.Contains(out, leak) {
		t.Errorf("%%+v of an HTTP collector = %s; want its URL and no token", out)
	}
}
