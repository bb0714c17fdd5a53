package config_test

import (
	"testing"
	"time"

	"github.com/pushagent/pushagent/agent/config"
)

// FuzzParse checks that no input makes Parse panic, and that a config it
// accepts is complete.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte(gw + job("    every: 1s\n", col)))
	f.Add([]byte(gw + job("    cron: \"*/5 * * * *\"\n    jitter: 1m\n", "{name: c, plugin: plugins/textfile.wasm, mounts: {/a.b: textfiles}, config: {x: [1, {y: \"${ZONE:-${X}}\"}]}}")))
	f.Add([]byte("gateway: {url: \"https://u:p@gw\", basic_auth: {username: u, password_file: secrets/password}, tls: {cert_file: cert.pem}}\njobs: []\n"))
	f.Add([]byte(gw + "defaults: {expire_after: 1h}\n" + job("    cron: \"*/5 9-17 * * 1-5\"\n    expire_after: 200h\n", col)))
	f.Add([]byte("gateway: {url: http://gw:9091, external_labels: {a: b}, write_relabel_configs: [{source_labels: [a, __name__], regex: '(.+);x', target_label: b, replacement: '${1}'}, {modulus: 3, source_labels: [a], target_label: h, action: hashmod}]}\n" +
		"jobs:\n  - name: j\n    every: 1s\n    relabel_configs: [{regex: 'a|b', action: labeldrop}]\n    collectors: [{name: c, plugin: plugins/textfile.wasm, relabel_configs: [{source_labels: [x], action: keep, regex: '(']}]}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("- [\n"))
	dir, path := fixture(f)
	opts := testOptions("DIR=" + dir)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(data, path, opts)
		if err != nil {
			if cfg != nil {
				t.Fatal("Parse returned a config and an error")
			}
			return
		}
		if cfg.Gateway.URL == "" || len(cfg.Jobs) == 0 {
			t.Fatalf("accepted an incomplete config: %+v", cfg)
		}
		for _, o := range cfg.AllOutputs() {
			for _, r := range o.Rules().WriteRelabelConfigs {
				if r.Validate(r.NameValidationScheme) != nil {
					t.Fatalf("accepted an invalid rule: %+v", r)
				}
			}
		}
		for _, j := range cfg.Jobs {
			if (j.Every == 0) == (j.Cron == "") || len(j.Collectors) == 0 {
				t.Fatalf("accepted an invalid job: %+v", j)
			}
			if j.ExpireAfter != 0 && (j.ExpireAfter < time.Minute || j.ExpireAfter < 3*(j.Every+j.Jitter)) {
				t.Fatalf("accepted a too short expire_after: %+v", j)
			}
		}
	})
}
