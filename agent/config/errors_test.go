package config_test

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/agent/config"
)

// Snippets to build bad configs from.
const (
	gw  = "gateway: {url: http://gw:9091}\n"
	col = "{name: c, plugin: plugins/textfile.wasm}"
)

// job returns a jobs: section with one job made of the given extra fields and
// collectors.
func job(fields, collectors string) string {
	return "jobs:\n  - name: j\n" + fields + "    collectors: [" + collectors + "]\n"
}

var parseErrorCases = []struct {
	name string
	yaml string
	env  []string
	want []string // the lines of Error(); $FILE is the config file, $DIR its directory
}{{
	name: "syntax error",
	yaml: gw + "jobs:\n  - name: a\n    every: 1s: 2s\n",
	want: []string{`$FILE:4: invalid YAML: mapping values are not allowed in this context`},
}, {
	// yaml.v3 names the line where the list starts (5); the token that
	// breaks it is on line 9.
	name: "indentation error",
	yaml: gw + "jobs:\n  - name: a\n    every: 1s\n    collectors:\n      - name: c\n        plugin: p.wasm\n        config: {x: 1}\n       timeout: 1s\n",
	want: []string{`$FILE:9: invalid YAML: did not find expected '-' indicator at "timeout: 1s" (in the block that starts at line 5: check the indentation)`},
}, {
	name: "duplicate key",
	yaml: gw + "gateway: {url: http://x}\n",
	want: []string{`$FILE:2: invalid YAML: mapping key "gateway" already defined at line 1`},
}, {
	name: "not a mapping",
	yaml: "- a\n",
	want: []string{`$FILE:1: the file must be a YAML mapping with gateway, defaults and jobs at the top level, got a list`},
}, {
	name: "empty file",
	yaml: "",
	want: []string{
		`$FILE: gateway: is required; add a gateway section with at least url: http://pushgateway:9091, or an outputs section`,
		`$FILE: jobs: is required; add a list of jobs, each with a name, a schedule (every or cron) and collectors`,
	},
}, {
	name: "wrong type: every is a number",
	yaml: gw + job("    every: 15\n", col),
	want: []string{`$FILE:4: jobs[0].every: expected a duration like 15s, got 15 (a number)`},
}, {
	name: "wrong type: collectors is a mapping",
	yaml: gw + "jobs:\n  - {name: j, every: 1s, collectors: {name: c}}\n",
	want: []string{`$FILE:3: jobs[0].collectors: expected a list of collectors, got a mapping`},
}, {
	name: "wrong type: delete_on_shutdown",
	yaml: gw + job("    every: 1s\n    delete_on_shutdown: yes\n", col),
	want: []string{`$FILE:5: jobs[0].delete_on_shutdown: expected true or false, got "yes" (a string)`},
}, {
	name: "wrong type: label value is a number",
	yaml: gw + job("    every: 1s\n    grouping: {version: 1.10}\n", col),
	want: []string{`$FILE:5: jobs[0].grouping.version: expected a string label value, got 1.1 (a number); quote it`},
}, {
	name: "unknown key at top level",
	yaml: gw + job("    every: 1s\n", col) + "defualts: {}\n",
	want: []string{`$FILE:6: defualts: unknown key (did you mean "defaults"?); valid keys here are gateway, outputs, shard, defaults, jobs`},
}, {
	name: "unknown key in gateway",
	yaml: "gateway: {url: http://gw:9091, timout: 1s}\n" + job("    every: 1s\n", col),
	want: []string{`$FILE:1: gateway.timout: unknown key (did you mean "timeout"?); valid keys here are url, timeout, basic_auth, bearer_token, bearer_token_file, tls, external_labels, write_relabel_configs`},
}, {
	name: "unknown key in job",
	yaml: gw + job("    evry: 1s\n", col),
	want: []string{
		`$FILE:3: jobs[0]: needs a schedule: set every (like 15s) or cron (like "*/5 * * * *")`,
		`$FILE:4: jobs[0].evry: unknown key (did you mean "every"?); valid keys here are name, every, cron, jitter, grouping, method, delete_on_shutdown, expire_after, replicated, outputs, relabel_configs, collectors`,
	},
}, {
	name: "unknown key in collector",
	yaml: gw + job("    every: 1s\n", "{name: c, plugin: plugins/textfile.wasm, alow_hosts: [x]}"),
	want: []string{`$FILE:5: jobs[0].collectors[0].alow_hosts: unknown key (did you mean "allow_hosts"?); valid keys here are name, plugin, http, config, timeout, memory_limit, max_output, series_limit, labels, mounts, env, allow_hosts, ca_file, max_response, relabel_configs`},
}, {
	name: "allow_hosts entry is a URL",
	yaml: gw + job("    every: 1s\n", `{name: c, plugin: plugins/textfile.wasm, allow_hosts: ["http://a:1/x", "a:99999", "a.*.com", ok.example:80]}`),
	want: []string{
		`$FILE:5: jobs[0].collectors[0].allow_hosts[0]: "http://a:1/x": write a host or host:port, not a URL`,
		`$FILE:5: jobs[0].collectors[0].allow_hosts[1]: "a:99999": port "99999" is not a number from 1 to 65535`,
		`$FILE:5: jobs[0].collectors[0].allow_hosts[2]: "a.*.com": a wildcard is only allowed as a leading "*.", like *.example.com`,
	},
}, {
	name: "plugin and http both",
	yaml: gw + job("    every: 1s\n", `{name: c, plugin: plugins/textfile.wasm, http: {url: "http://127.0.0.1:1/"}}`),
	want: []string{`$FILE:5: jobs[0].collectors[0]: set either plugin (a .wasm file) or http (an HTTP plugin endpoint), not both`},
}, {
	name: "http plugin with sandbox keys",
	yaml: gw + job("    every: 1s\n", `{name: c, http: {url: "ftp://x/"}, mounts: {/a: .}}`),
	want: []string{
		`$FILE:5: jobs[0].collectors[0].http.url: expected an http:// or https:// URL, like http://127.0.0.1:8080/collect`,
		`$FILE:5: jobs[0].collectors[0].mounts: applies to wasm plugins only; an http plugin runs outside the agent's sandbox`,
	},
}, {
	name: "replicated job without a distinguishing grouping label",
	yaml: gw + job("    every: 1s\n    replicated: true\n    grouping: {zone: a}\n", col),
	want: []string{`$FILE:3: jobs[0]: is replicated, but no grouping label tells the replicas apart, so they would overwrite each other's group; add one from the environment, like grouping: {instance: "${HOSTNAME}"}`},
}, {
	name: "white space in job name and grouping value",
	yaml: gw + "jobs:\n  - name: my job\n    every: 1s\n    grouping: {zone: eu west}\n    collectors: [" + col + "]\n",
	want: []string{
		`$FILE:3: jobs[0].name: "my job" contains white space, which the Pushgateway's URL scheme turns into '+' (client_golang escapes it so); use - or _`,
		`$FILE:5: jobs[0].grouping.zone: value "eu west" contains white space, which the Pushgateway's URL scheme turns into '+'; use - or _`,
	},
}, {
	name: "http plugin with two kinds of auth",
	yaml: gw + job("    every: 1s\n", `{name: c, http: {url: "http://127.0.0.1:1/", bearer_token: t, headers: {authorization: x}}}`),
	want: []string{`$FILE:5: jobs[0].collectors[0].http: set one of basic_auth, a bearer token or an Authorization header, not several; a request carries one Authorization header`},
}, {
	name: "bad duration",
	yaml: gw + job("    every: fast\n", col),
	want: []string{`$FILE:4: jobs[0].every: expected a duration like 15s or 1m30s (units ms, s, m, h), got "fast"`},
}, {
	name: "every below 1s",
	yaml: gw + job("    every: 500ms\n", col),
	want: []string{`$FILE:4: jobs[0].every: must be at least 1s, got "500ms"`},
}, {
	name: "negative timeout",
	yaml: gw + job("    every: 1s\n", "{name: c, plugin: plugins/textfile.wasm, timeout: -1s}"),
	want: []string{`$FILE:5: jobs[0].collectors[0].timeout: must be a positive duration, got "-1s"`},
}, {
	name: "bad cron",
	yaml: gw + job("    cron: \"61 * * * *\"\n", col),
	want: []string{`$FILE:4: jobs[0].cron: invalid cron expression "61 * * * *": end of range (61) above maximum (59): 61; write 5 fields (minute hour day-of-month month day-of-week, like "*/5 * * * *") or 6 with leading seconds`},
}, {
	name: "cron with too few fields",
	yaml: gw + job("    cron: \"* * *\"\n", col),
	want: []string{`$FILE:4: jobs[0].cron: invalid cron expression "* * *": write 5 fields (minute hour day-of-month month day-of-week, like "*/5 * * * *") or 6 with leading seconds`},
}, {
	name: "cron that never fires",
	yaml: gw + job("    cron: \"0 0 30 2 *\"\n", col),
	want: []string{`$FILE:4: jobs[0].cron: cron expression "0 0 30 2 *" never fires; check the day-of-month and month fields`},
}, {
	name: "every and cron",
	yaml: gw + job("    every: 1m\n    cron: \"* * * * *\"\n", col),
	want: []string{`$FILE:3: jobs[0]: set either every or cron, not both`},
}, {
	name: "neither every nor cron",
	yaml: gw + job("", col),
	want: []string{`$FILE:3: jobs[0]: needs a schedule: set every (like 15s) or cron (like "*/5 * * * *")`},
}, {
	name: "jitter not below every",
	yaml: gw + job("    every: 15s\n    jitter: 15s\n", col),
	want: []string{`$FILE:5: jobs[0].jitter: must be less than every (15s), got "15s"`},
}, {
	name: "jitter not below cron interval",
	yaml: gw + job("    cron: \"*/5 * * * *\"\n    jitter: 5m\n", col),
	want: []string{`$FILE:5: jobs[0].jitter: must be less than the shortest interval between runs of the cron schedule (5m0s), got "5m"`},
}, {
	name: "negative jitter",
	yaml: gw + job("    every: 15s\n    jitter: -1s\n", col),
	want: []string{`$FILE:5: jobs[0].jitter: must not be negative, got "-1s"`},
}, {
	name: "expire_after below 3 × every",
	yaml: gw + job("    every: 1m\n    expire_after: 2m\n", col),
	want: []string{`$FILE:5: jobs[0].expire_after: must be at least 3m0s: 3 × the longest time between runs (every 1m0s), and never under 1m0s, so that a replica that is merely slow is not deleted; got "2m"`},
}, {
	name: "expire_after counts jitter",
	yaml: gw + job("    every: 1m\n    jitter: 30s\n    expire_after: 4m\n", col),
	want: []string{`$FILE:6: jobs[0].expire_after: must be at least 4m30s: 3 × the longest time between runs (every 1m0s + jitter 30s), and never under 1m0s, so that a replica that is merely slow is not deleted; got "4m"`},
}, {
	name: "expire_after below 1m",
	yaml: gw + job("    every: 1s\n    expire_after: 30s\n", col),
	want: []string{`$FILE:5: jobs[0].expire_after: must be at least 1m0s, so that a replica that is merely slow is not deleted (0s turns expiry off), got "30s"`},
}, {
	name: "expire_after below the longest gap of a cron schedule",
	yaml: gw + job("    cron: \"*/5 9-17 * * 1-5\"\n    expire_after: 1h\n", col),
	want: []string{`$FILE:5: jobs[0].expire_after: must be at least 189h15m0s: 3 × the longest time between runs (63h5m0s from the cron schedule), and never under 1m0s, so that a replica that is merely slow is not deleted; got "1h"`},
}, {
	name: "expire_after negative, a number, not a duration",
	yaml: gw + job("    every: 1s\n    expire_after: -1m\n", col) +
		"  - {name: k, every: 1s, expire_after: 600, collectors: [" + col + "]}\n" +
		"  - {name: l, every: 1s, expire_after: 10 minutes, collectors: [" + col + "]}\n",
	want: []string{
		`$FILE:5: jobs[0].expire_after: must not be negative (0s turns expiry off), got "-1m"`,
		`$FILE:7: jobs[1].expire_after: expected a duration like 15s, got 600 (a number)`,
		`$FILE:8: jobs[2].expire_after: expected a duration like 15s or 1m30s (units ms, s, m, h), got "10 minutes"`,
	},
}, {
	name: "expire_after from defaults too short for a job",
	yaml: gw + "defaults: {expire_after: 10m}\n" + job("    every: 5m\n", col) +
		"  - {name: k, every: 5m, expire_after: 0s, collectors: [" + col + "]}\n" +
		"  - {name: l, every: 1m, collectors: [" + col + "]}\n",
	want: []string{`$FILE:4: jobs[0]: expire_after 10m0s from defaults is too short for this job: it must be at least 15m0s: 3 × the longest time between runs (every 5m0s), and never under 1m0s, so that a replica that is merely slow is not deleted; set expire_after for this job (0s turns expiry off)`},
}, {
	name: "defaults expire_after below 1m",
	yaml: gw + "defaults: {expire_after: 5s}\n" + job("    every: 1s\n", col),
	want: []string{`$FILE:2: defaults.expire_after: must be at least 1m0s, so that a replica that is merely slow is not deleted (0s turns expiry off), got "5s"`},
}, {
	name: "duplicate job names",
	yaml: gw + job("    every: 1s\n", col) + "  - {name: j, every: 2s, collectors: [" + col + "]}\n",
	want: []string{`$FILE:6: jobs[1].name: duplicate job name "j" (also used by jobs[0]); each job is one group at the gateway, so give every job its own name`},
}, {
	name: "duplicate collector names",
	yaml: gw + job("    every: 1s\n", col+", "+col),
	want: []string{`$FILE:5: jobs[0].collectors[1].name: duplicate collector name "c" (also used by jobs[0].collectors[0]); names must be unique within a job`},
}, {
	name: "invalid label name",
	yaml: gw + job("    every: 1s\n", "{name: c, plugin: plugins/textfile.wasm, labels: {1team: a, __x: b}}"),
	want: []string{
		`$FILE:5: jobs[0].collectors[0].labels.__x: label names starting with __ are reserved for Prometheus; rename "__x"`,
		`$FILE:5: jobs[0].collectors[0].labels["1team"]: invalid label name "1team"; use letters, digits and _, not starting with a digit`,
	},
}, {
	name: "grouping label job",
	yaml: gw + "defaults: {grouping: {job: x}}\n" + job("    every: 1s\n    grouping: {job: y}\n", col),
	want: []string{
		`$FILE:2: defaults.grouping.job: "job" cannot be a grouping label: the job's name is its job label; remove it`,
		`$FILE:6: jobs[0].grouping.job: "job" cannot be a grouping label: the job's name is its job label; remove it`,
	},
}, {
	name: "empty grouping value",
	yaml: gw + job("    every: 1s\n    grouping: {instance: \"${EMPTY}\"}\n", col),
	want: []string{`$FILE:5: jobs[0].grouping.instance: label value must not be empty (an empty value removes the label); set a value or remove the label`},
}, {
	name: "collector label clashes with grouping",
	yaml: gw + "defaults: {grouping: {instance: a}}\n" + job("    every: 1s\n", "{name: c, plugin: plugins/textfile.wasm, labels: {instance: b, job: c}}"),
	want: []string{
		`$FILE:6: jobs[0].collectors[0].labels.instance: "instance" is a grouping label of job "j"; a collector label must not override it, so rename or remove it`,
		`$FILE:6: jobs[0].collectors[0].labels.job: "job" cannot be a collector label: the job's name is its job label; remove it`,
	},
}, {
	name: "missing plugin file",
	yaml: gw + job("    every: 1s\n", "{name: c, plugin: plugins/nope.wasm}"),
	want: []string{`$FILE:5: jobs[0].collectors[0].plugin: plugin file "$DIR/plugins/nope.wasm": no such file; check the path (relative paths are resolved from the config file's directory)`},
}, {
	// The hint about relative paths is for relative paths only.
	name: "missing plugin file, absolute",
	yaml: gw + job("    every: 1s\n", "{name: c, plugin: /nonexistent/nope.wasm}"),
	want: []string{`$FILE:5: jobs[0].collectors[0].plugin: plugin file "/nonexistent/nope.wasm": no such file; check the path`},
}, {
	name: "plugin is a directory",
	yaml: gw + job("    every: 1s\n", "{name: c, plugin: plugins}"),
	want: []string{`$FILE:5: jobs[0].collectors[0].plugin: "$DIR/plugins" is a directory, not a plugin file; name the file itself`},
}, {
	name: "missing plugin key",
	yaml: gw + job("    every: 1s\n", "{name: c}"),
	want: []string{`$FILE:5: jobs[0].collectors[0].plugin: is required; name the plugin's .wasm file, relative to the config file's directory (or set http: {url: ...} for an HTTP plugin)`},
}, {
	name: "missing password file",
	yaml: "gateway: {url: http://gw:9091, basic_auth: {username: u, password_file: secrets/nope}}\n" + job("    every: 1s\n", col),
	want: []string{`$FILE:1: gateway.basic_auth.password_file: cannot read "$DIR/secrets/nope": no such file; check the path (relative paths are resolved from the config file's directory)`},
}, {
	name: "password file is a directory",
	yaml: "gateway: {url: http://gw:9091, basic_auth: {username: u, password_file: secrets}}\n" + job("    every: 1s\n", col),
	want: []string{`$FILE:1: gateway.basic_auth.password_file: "$DIR/secrets" is not a regular file; name the file that holds the secret`},
}, {
	name: "empty token file",
	yaml: "gateway: {url: http://gw:9091, bearer_token_file: secrets/empty}\n" + job("    every: 1s\n", col),
	want: []string{`$FILE:1: gateway.bearer_token_file: "$DIR/secrets/empty" is empty; write the secret into it`},
}, {
	name: "password and password_file",
	yaml: "gateway: {url: http://gw:9091, basic_auth: {username: u, password: p, password_file: secrets/password}}\n" + job("    every: 1s\n", col),
	want: []string{`$FILE:1: gateway.basic_auth: set either password or password_file, not both`},
}, {
	name: "no password",
	yaml: "gateway: {url: http://gw:9091, basic_auth: {username: u}}\n" + job("    every: 1s\n", col),
	want: []string{`$FILE:1: gateway.basic_auth: needs a password: set password_file (preferred: keeps the secret out of the config) or password`},
}, {
	name: "basic auth and bearer token",
	yaml: "gateway: {url: http://gw:9091, basic_auth: {username: u, password: p}, bearer_token: t}\n" + job("    every: 1s\n", col),
	want: []string{`$FILE:1: gateway: set either basic_auth or a bearer token, not both; the gateway accepts one Authorization header`},
}, {
	name: "tls on http, cert without key",
	yaml: "gateway: {url: http://gw:9091, tls: {cert_file: cert.pem}}\n" + job("    every: 1s\n", col),
	want: []string{
		`$FILE:1: gateway.tls: cert_file and key_file must be set together (a client certificate needs its key)`,
		`$FILE:1: gateway.tls: applies only to https:// URLs, but url uses http://; use https:// or remove tls`,
	},
}, {
	name: "bad memory_limit",
	yaml: gw + job("    every: 1s\n", "{name: c, plugin: plugins/textfile.wasm, memory_limit: 32XB, max_output: 2GiB}"),
	want: []string{
		`$FILE:5: jobs[0].collectors[0].max_output: must be between 1B and 1GiB, got "2GiB"`,
		`$FILE:5: jobs[0].collectors[0].memory_limit: expected a size like 32MiB (units B, KiB, MiB, GiB, KB, MB, GB) or a number of bytes, got "32XB"`,
	},
}, {
	name: "bad series_limit",
	yaml: gw + "defaults: {series_limit: 0}\n" + job("    every: 1s\n", "{name: c, plugin: plugins/textfile.wasm, series_limit: lots}"),
	want: []string{
		`$FILE:2: defaults.series_limit: must be a whole number from 1 to 10000000, got 0`,
		`$FILE:6: jobs[0].collectors[0].series_limit: expected a whole number from 1 to 10000000, got "lots"`,
	},
}, {
	name: "memory_limit out of range",
	yaml: gw + "defaults: {memory_limit: 16KiB}\n" + job("    every: 1s\n", "{name: c, plugin: plugins/textfile.wasm, memory_limit: 5GiB}"),
	want: []string{
		`$FILE:2: defaults.memory_limit: must be between 64KiB and 4GiB, got "16KiB"`,
		`$FILE:6: jobs[0].collectors[0].memory_limit: must be between 64KiB and 4GiB, got "5GiB"`,
	},
}, {
	name: "unset env var",
	yaml: "gateway: {url: \"http://${GW_HOST}:9091\"}\n" + job("    every: 1s\n", col),
	want: []string{`$FILE:1: gateway.url: environment variable GW_HOST is not set; set it, or give a default with ${GW_HOST:-value}`},
}, {
	name: "bare $NAME",
	yaml: gw + job("    every: 1s\n    grouping: {instance: $HOSTNAME}\n", col),
	want: []string{`$FILE:5: jobs[0].grouping.instance: has a $ followed by a name at character 1; write ${NAME} to expand an environment variable, or $$ for a literal $`},
}, {
	name: "unset env var inside plugin config",
	yaml: gw + job("    every: 1s\n", "{name: c, plugin: plugins/textfile.wasm, config: {urls: [a, \"${URL}\"]}}"),
	want: []string{`$FILE:5: jobs[0].collectors[0].config.urls[1]: environment variable URL is not set; set it, or give a default with ${URL:-value}`},
}, {
	name: "env grant not set",
	yaml: gw + job("    every: 1s\n", "{name: c, plugin: plugins/textfile.wasm, env: [API_TOKEN, NOPE, API_TOKEN, 1X]}"),
	want: []string{
		`$FILE:5: jobs[0].collectors[0].env[1]: environment variable NOPE is not set; set it in the agent's environment or remove the grant`,
		`$FILE:5: jobs[0].collectors[0].env[2]: API_TOKEN is granted twice; list it once`,
		`$FILE:5: jobs[0].collectors[0].env[3]: invalid environment variable name "1X"; use letters, digits and _, not starting with a digit`,
	},
}, {
	name: "mount host dir missing",
	yaml: gw + job("    every: 1s\n", "{name: c, plugin: plugins/textfile.wasm, mounts: {/data: nope}}"),
	want: []string{`$FILE:5: jobs[0].collectors[0].mounts["/data"]: host directory "$DIR/nope": no such file; check the path (relative paths are resolved from the config file's directory)`},
}, {
	name: "mount host is a file",
	yaml: gw + job("    every: 1s\n", "{name: c, plugin: plugins/textfile.wasm, mounts: {/data: ca.pem}}"),
	want: []string{`$FILE:5: jobs[0].collectors[0].mounts["/data"]: host path "$DIR/ca.pem" is not a directory; mounts grant directories`},
}, {
	name: "mount guest path not absolute",
	yaml: gw + job("    every: 1s\n", "{name: c, plugin: plugins/textfile.wasm, mounts: {data: textfiles}}"),
	want: []string{`$FILE:5: jobs[0].collectors[0].mounts.data: guest path "data" must be absolute, like "/data"`},
}, {
	name: "bad URL scheme",
	yaml: "gateway: {url: \"ftp://gw:9091\"}\n" + job("    every: 1s\n", col),
	want: []string{`$FILE:1: gateway.url: must be an http:// or https:// URL like http://127.0.0.1:9091, got "ftp://gw:9091"`},
}, {
	name: "URL without scheme",
	yaml: "gateway: {url: \"gw:9091\"}\n" + job("    every: 1s\n", col),
	want: []string{`$FILE:1: gateway.url: must be an http:// or https:// URL like http://127.0.0.1:9091, got "gw:9091"`},
}, {
	name: "URL with credentials",
	yaml: "gateway: {url: \"http://u:p@gw:9091\"}\n" + job("    every: 1s\n", col),
	want: []string{`$FILE:1: gateway.url: must not contain credentials; use gateway.basic_auth or gateway.bearer_token_file instead`},
}, {
	name: "missing URL",
	yaml: "gateway: {timeout: 1s}\n" + job("    every: 1s\n", col),
	want: []string{`$FILE:1: gateway.url: is required; set the Pushgateway URL, like http://127.0.0.1:9091`},
}, {
	name: "bad method",
	yaml: gw + job("    every: 1s\n    method: get\n", col),
	want: []string{`$FILE:5: jobs[0].method: must be put (replace the group's metrics) or post (add to them), got "get"`},
}, {
	name: "no jobs",
	yaml: gw + "jobs: []\n",
	want: []string{`$FILE:2: jobs: at least one job is required; add a job with a name, a schedule (every or cron) and collectors`},
}, {
	name: "no collectors",
	yaml: gw + job("    every: 1s\n", ""),
	want: []string{`$FILE:5: jobs[0].collectors: at least one collector is required; add a collector with a name and a plugin`},
}, {
	name: "job without name",
	yaml: gw + "jobs:\n  - {every: 1s, collectors: [" + col + "]}\n",
	want: []string{`$FILE:3: jobs[0].name: is required; name the job (it becomes the job label at the gateway)`},
}}

func parseForDump(yaml, path string, env []string) (any, error) {
	return config.Parse([]byte(yaml), path, testOptions(env...))
}

func TestParseErrors(t *testing.T) {
	cases := parseErrorCases
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkParseError(t, tc.yaml, tc.env, tc.want) })
	}
}

// checkParseError loads yaml from a fixture directory with env and checks
// that it fails with a *config.Error of the problems want, one line each
// ($FILE is the config file, $DIR its directory).
func checkParseError(t *testing.T, yaml string, env, want []string) {
	t.Helper()
	dir, path := fixture(t)
	_, err := config.Parse([]byte(yaml), path, testOptions(env...))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *config.Error", err)
	}
	if len(ce.Problems) != len(want) {
		t.Errorf("got %d problems, want %d", len(ce.Problems), len(want))
	}
	// Error() is one line per problem, each starting with the file name.
	got := strings.ReplaceAll(strings.ReplaceAll(err.Error(), path, "$FILE"), dir, "$DIR")
	if want := strings.Join(want, "\n"); got != want {
		t.Errorf("Error():\n%s\nwant:\n%s", got, want)
	}
}

// The document problems the YAML tree finds itself, each with its line.
var treeErrorCases = []struct{ name, yaml, want string }{
	{"alias cycle", "a: &x [*x]\n", `$FILE:1: invalid YAML: alias *x refers to a value that contains it; an alias can only repeat a value defined before it`},
	{"key is a list", gw + "[a]: 1\n", `$FILE:2: invalid YAML: a mapping key must be a plain value, not a list or mapping`},
	{"bad tag", gw + "jobs: !!int many\n", `$FILE:2: jobs: invalid YAML: the value cannot be read as !!int; remove the tag`},
	{"merge of a string", gw + "defaults: {<<: x}\njobs: []\n", `$FILE:2: invalid YAML: a merge key (<<) must name a mapping or a list of mappings`},
	{"billion laughs", "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
		`$FILE: invalid YAML: the file expands to more than 100000 values through aliases (*name); write the values out or use fewer aliases`},
}

func TestTreeErrors(t *testing.T) {
	for _, tc := range treeErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "schedules.yaml")
			_, err := config.Parse([]byte(tc.yaml), path, testOptions())
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if got, want := err.Error(), strings.ReplaceAll(tc.want, "$FILE", path); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// Merge keys and aliases give the values YAML says they do.
func TestMergeKeys(t *testing.T) {
	dir, path := fixture(t)
	yaml := gw + "jobs:\n  - name: j\n    every: 1s\n" +
		"    collectors: [&c {name: c, plugin: plugins/textfile.wasm, timeout: 2s}, {<<: *c, name: d}, {<<: [*c], name: e, timeout: 3s}]\n"
	cfg, err := config.Parse([]byte(yaml), path, testOptions("DIR="+dir))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cfg.Jobs[0].Collectors {
		got = append(got, c.Name+" "+c.Timeout.String()+" "+filepath.Base(c.Plugin))
	}
	if want := []string{"c 2s textfile.wasm", "d 2s textfile.wasm", "e 3s textfile.wasm"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
