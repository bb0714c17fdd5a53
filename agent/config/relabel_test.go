package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v2"

	"github.com/pushagent/pushagent/agent/config"
)

// prometheusRules are relabel_config blocks in the shape Prometheus' docs
// and example configs write them, each exactly as it would sit under
// metric_relabel_configs: in a prometheus.yml.
const prometheusRules = `
- source_labels: [__name__]
  regex: 'go_.*|process_.*'
  action: drop
- source_labels: [__name__, mountpoint]
  separator: ;
  regex: node_filesystem_.*;/(run|sys)(/.*)?
  action: drop
- source_labels: [device]
  regex: '/dev/(.+)'
  target_label: disk
  replacement: '${1}'
- source_labels: [__address__]
  modulus: 8
  target_label: __tmp_hash
  action: hashmod
- source_labels: [__tmp_hash]
  regex: ^1$
  action: keep
- regex: __meta_kubernetes_pod_label_(.+)
  action: labelmap
- regex: 'pod_template_hash|controller_revision_hash'
  action: labeldrop
- regex: '__name__|instance|job|device|disk|code'
  action: labelkeep
- source_labels: [code]
  target_label: code_upper
  action: UpperCase
- source_labels: [code]
  target_label: code_lower
  action: lowercase
- source_labels: [__tmp_a]
  target_label: __tmp_b
  action: keepequal
- source_labels: [__tmp_a]
  target_label: __tmp_b
  action: dropequal
- target_label: static
  replacement: "404"
- source_labels: [code]
  regex: 404
  target_label: not_found
  replacement: yes
`

// TestRelabelConfigsLoadAsPrometheusDoes loads the same rule blocks at
// every place rules are taken, and compares each rule with what
// Prometheus' own YAML decoding of the block gives (the Config type's
// UnmarshalYAML, then Validate).
func TestRelabelConfigsLoadAsPrometheusDoes(t *testing.T) {
	var want []*relabel.Config
	if err := yaml.UnmarshalStrict([]byte(prometheusRules), &want); err != nil {
		t.Fatal(err)
	}
	for _, c := range want {
		if err := c.Validate(model.LegacyValidation); err != nil {
			t.Fatalf("the fixture itself is not valid for Prometheus: %v", err)
		}
	}
	indent := func(n int) string {
		return strings.ReplaceAll(strings.TrimPrefix(prometheusRules, "\n"), "\n", "\n"+strings.Repeat(" ", n))
	}
	doc := "gateway:\n  url: http://gw:9091\n  write_relabel_configs:\n    " + indent(4) +
		"\noutputs:\n  rw:\n    remote_write:\n      url: http://vm:8428/api/v1/write\n      buffer: {dir: b}\n      write_relabel_configs:\n        " + indent(8) +
		"\n  ot:\n    otlp:\n      url: http://otel:4318/v1/metrics\n      buffer: {dir: o}\n      write_relabel_configs:\n        " + indent(8) +
		"\njobs:\n  - name: j\n    every: 15s\n    relabel_configs:\n      " + indent(6) +
		"\n    collectors:\n      - name: c\n        plugin: plugins/textfile.wasm\n        relabel_configs:\n          " + indent(10) + "\n"
	_, path := fixture(t)
	cfg, err := config.Parse([]byte(doc), path, testOptions())
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	outs := cfg.AllOutputs()
	for name, got := range map[string][]*relabel.Config{
		"gateway":      outs[0].Rules().WriteRelabelConfigs,
		"otlp":         outs[1].Rules().WriteRelabelConfigs,
		"remote_write": outs[2].Rules().WriteRelabelConfigs,
		"job":          cfg.Jobs[0].RelabelConfigs,
		"collector":    cfg.Jobs[0].Collectors[0].RelabelConfigs,
	} {
		if len(got) != len(want) {
			t.Errorf("%s: %d rules, want %d", name, len(got), len(want))
			continue
		}
		for i := range want {
			g, w := *got[i], *want[i]
			if g.Regex.String() != w.Regex.String() {
				t.Errorf("%s rule %d: regex %q, Prometheus reads %q", name, i, g.Regex.String(), w.Regex.String())
			}
			g.Regex, w.Regex = relabel.Regexp{}, relabel.Regexp{}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("%s rule %d:\n got %+v\nwant %+v", name, i, g, w)
			}
		}
	}

	// Behaviour: the same labels through our rules and Prometheus' rules
	// end the same.
	for _, ls := range []labels.Labels{
		labels.FromStrings("__name__", "go_goroutines"),
		labels.FromStrings("__name__", "node_filesystem_avail_bytes", "mountpoint", "/run/user"),
		labels.FromStrings("__name__", "http_requests_total", "device", "/dev/sda1", "code", "404", "__address__", "a:1"),
		labels.FromStrings("__name__", "http_requests_total", "code", "Err", "__address__", "b:2", "__tmp_a", "x", "__tmp_b", "y"),
	} {
		lbG, lbW := labels.NewBuilder(ls), labels.NewBuilder(ls)
		keepG := relabel.ProcessBuilder(lbG, cfg.Jobs[0].RelabelConfigs...)
		keepW := relabel.ProcessBuilder(lbW, want...)
		if keepG != keepW || !labels.Equal(lbG.Labels(), lbW.Labels()) {
			t.Errorf("%s: ours %v %s, Prometheus' %v %s", ls, keepG, lbG.Labels(), keepW, lbW.Labels())
		}
	}
}

// TestRelabelRulesAreNotExpanded: ${1} in a rule is the regex's group, as
// in Prometheus, while external_labels are expanded like every value.
func TestRelabelRulesAreNotExpanded(t *testing.T) {
	doc := gw + `outputs:
  rw:
    remote_write:
      url: http://vm:8428/api/v1/write
      buffer: {dir: b}
      external_labels: {replica: "${HOSTNAME}", cluster: eu-1}
      write_relabel_configs:
        - {source_labels: [instance], regex: '(.+):\d+', target_label: host, replacement: '${1}'}
        - {regex: '(?P<name>.+)_total', source_labels: [__name__], target_label: base, replacement: '$name'}
` + job("    every: 15s\n", col)
	_, path := fixture(t)
	cfg, err := config.Parse([]byte(doc), path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Outputs[0].Rules()
	if got := r.WriteRelabelConfigs[0].Replacement; got != "${1}" {
		t.Errorf("replacement = %q, want ${1} as written", got)
	}
	if got := r.WriteRelabelConfigs[1].Replacement; got != "$name" {
		t.Errorf("replacement = %q, want $name as written", got)
	}
	if want := labels.FromStrings("cluster", "eu-1", "replica", "host-1"); !labels.Equal(r.ExternalLabels, want) {
		t.Errorf("external_labels = %s, want %s", r.ExternalLabels, want)
	}
}

func TestRelabelErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{{
		name: "bad regex and missing target_label, with their lines",
		yaml: gw + `jobs:
  - name: j
    every: 15s
    relabel_configs:
      - source_labels: [__name__]
        regex: 'node_(cpu'
        action: keep
      - source_labels: [device]
        action: replace
    collectors: [` + col + `]
`,
		want: []string{
			"$FILE:7: jobs[0].relabel_configs[0].regex: invalid regex \"node_(cpu\": missing closing ): `node_(cpu`; write an RE2 expression (as Prometheus does), anchored on both ends for you",
			"$FILE:9: jobs[0].relabel_configs[1]: relabel configuration for replace action requires 'target_label' value; see the relabel_config reference in docs/config.md",
		},
	}, {
		name: "unknown action and key, bad source label, in a collector",
		yaml: gw + `jobs:
  - name: j
    every: 15s
    collectors:
      - name: c
        plugin: plugins/textfile.wasm
        relabel_configs:
          - {source_labels: [a-b], action: dorp}
          - {regexp: x, action: drop}
`,
		want: []string{
			`$FILE:9: jobs[0].collectors[0].relabel_configs[0].action: unknown relabel action "dorp" (did you mean "drop"?); the actions are replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase`,
			`$FILE:9: jobs[0].collectors[0].relabel_configs[0].source_labels[0]: "a-b" is not a valid label name; use letters, digits and _, not starting with a digit`,
			`$FILE:10: jobs[0].collectors[0].relabel_configs[1].regexp: unknown key (did you mean "regex"?); valid keys here are source_labels, separator, regex, modulus, target_label, replacement, action`,
		},
	}, {
		name: "hashmod without modulus, labeldrop with more than a regex, on outputs",
		yaml: `gateway:
  url: http://gw:9091
  write_relabel_configs:
    - {source_labels: [a], target_label: b, action: hashmod}
outputs:
  ot:
    otlp:
      url: http://otel:4318/v1/metrics
      buffer: {dir: o}
      write_relabel_configs: [{regex: a, target_label: b, action: labeldrop}]
      external_labels: {__x: y}
` + job("    every: 15s\n", col),
		want: []string{
			`$FILE:4: gateway.write_relabel_configs[0]: relabel configuration for hashmod requires non-zero modulus; see the relabel_config reference in docs/config.md`,
			`$FILE:10: outputs.ot.otlp.write_relabel_configs[0]: labeldrop action requires only 'regex', and no other fields; see the relabel_config reference in docs/config.md`,
			`$FILE:11: outputs.ot.otlp.external_labels.__x: label names starting with __ are reserved for Prometheus; rename "__x"`,
		},
	}, {
		name: "job and collector rules may not set the run's labels",
		yaml: gw + `jobs:
  - name: j
    every: 15s
    grouping: {instance: a}
    relabel_configs: [{target_label: job, replacement: x}]
    collectors:
      - name: c
        plugin: plugins/textfile.wasm
        relabel_configs: [{source_labels: [host], target_label: instance}]
`,
		want: []string{
			`$FILE:6: jobs[0].relabel_configs[0].target_label: "job" is the job's own label (job or grouping), which outputs add after the job's and collectors' rules; change it in an output's write_relabel_configs, or choose another label`,
			`$FILE:10: jobs[0].collectors[0].relabel_configs[0].target_label: "instance" is the job's own label (job or grouping), which outputs add after the job's and collectors' rules; change it in an output's write_relabel_configs, or choose another label`,
		},
	}, {
		name: "not a list; a fractional number",
		yaml: gw + `jobs:
  - name: j
    every: 15s
    relabel_configs: {action: drop}
    collectors:
      - name: c
        plugin: plugins/textfile.wasm
        relabel_configs: [{source_labels: [a], regex: 1.50, action: drop}]
`,
		want: []string{
			`$FILE:5: jobs[0].relabel_configs: expected a list of relabelling rules, like [{source_labels: [__name__], regex: go_.*, action: drop}], got a mapping`,
			`$FILE:9: jobs[0].collectors[0].relabel_configs[0].regex: expected a string, got 1.5 (a number); quote the value`,
		},
	}} {
		t.Run(tc.name, func(t *testing.T) { checkParseError(t, tc.yaml, nil, tc.want) })
	}
}

func TestOTLPAndProtocol(t *testing.T) {
	doc := gw + `outputs:
  ot:
    otlp:
      url: http://otel:4318/v1/metrics
      headers: {X-Tenant: a}
      buffer: {dir: o}
  ot2:
    otlp:
      url: https://otel:4318/v1/metrics
      compression: none
      timeout: 3s
      bearer_token: tok
      buffer: {dir: o2, max_size: 1GiB}
  rw1:
    remote_write: {url: http://vm/api/v1/write, buffer: {dir: b1}}
  rw2:
    remote_write: {url: http://vm/api/v1/write, buffer: {dir: b2}, protocol: 2.0}
  rw3:
    remote_write: {url: http://vm/api/v1/write, buffer: {dir: b3}, protocol: "1.0"}
` + job("    every: 15s\n", col)
	_, path := fixture(t)
	cfg, err := config.Parse([]byte(doc), path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	ot, ot2 := cfg.Outputs[0].OTLP, cfg.Outputs[1].OTLP
	if ot == nil || ot.Compression != "gzip" || ot.Timeout.String() != "10s" || ot.Headers["X-Tenant"].Reveal() != "a" || ot.Buffer.MaxSize != 256<<20 {
		t.Errorf("ot = %+v; want the defaults gzip, 10s, 256MiB", ot)
	}
	if ot2 == nil || ot2.Compression != "none" || ot2.Timeout.String() != "3s" || ot2.BearerToken.Reveal() != "tok" || ot2.Buffer.MaxSize != 1<<30 {
		t.Errorf("ot2 = %+v", ot2)
	}
	for i, want := range []string{"1.0", "2.0", "1.0"} {
		if got := cfg.Outputs[2+i].RemoteWrite.Protocol; got != want {
			t.Errorf("%s: protocol %q, want %q", cfg.Outputs[2+i].Name, got, want)
		}
	}

	bad := gw + `outputs:
  a: {otlp: {url: http://x/v1/metrics, compression: zstd, buffer: {dir: b}, headers: {Content-Encoding: br}}}
  b: {remote_write: {url: http://y/w, protocol: 3, buffer: {dir: b}}}
  c: {otlp: {url: http://z/v1/metrics}, remote_write: {url: http://y/w, buffer: {dir: c}}}
` + job("    every: 15s\n", col)
	dir, path := fixture(t)
	_, err = config.Parse([]byte(bad), path, testOptions())
	if err == nil {
		t.Fatal("bad otlp/protocol config loaded")
	}
	got := strings.ReplaceAll(strings.ReplaceAll(err.Error(), path, "$FILE"), dir, "$DIR")
	want := strings.Join([]string{
		`$FILE:3: outputs.a.otlp.compression: must be gzip or none, got "zstd"`,
		`$FILE:3: outputs.a.otlp.headers.Content-Encoding: is set by the agent for the OTLP protocol; remove it`,
		`$FILE:4: outputs.b.remote_write.buffer.dir: is also the buffer of outputs.a; each remote_write or otlp output needs its own directory`,
		`$FILE:4: outputs.b.remote_write.protocol: must be "1.0" (Prometheus' remote write 1.0, which every receiver takes) or "2.0" (with metadata and created timestamps; Prometheus 3 and recent receivers), got 3 (a number)`,
		`$FILE:5: outputs.c: set either otlp or remote_write, not both; make two outputs to send to both`,
		`$FILE:5: outputs.c.otlp.buffer: is required; otlp keeps what the receiver has not accepted yet on disk: set buffer: {dir: /var/lib/pushagent/<output>}`,
	}, "\n")
	if got != want {
		t.Errorf("Error():\n%s\nwant:\n%s", got, want)
	}
}

// TestRulesCompareEqualAcrossLoads: a reload compares the old and new
// config with reflect.DeepEqual to keep unchanged jobs and outputs
// running; the same rules loaded twice must compare equal, or every
// reload would restart every job and output that has rules.
func TestRulesCompareEqualAcrossLoads(t *testing.T) {
	doc := "gateway:\n  url: http://gw:9091\n  external_labels: {a: b}\n  write_relabel_configs:\n    " +
		strings.ReplaceAll(strings.TrimPrefix(prometheusRules, "\n"), "\n", "\n    ") +
		"\n" + job("    every: 15s\n    relabel_configs: [{source_labels: [a], regex: 'x(.*)', target_label: b}]\n", col)
	_, path := fixture(t)
	a, err := config.Parse([]byte(doc), path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	b, err := config.Parse([]byte(doc), path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Jobs, b.Jobs) {
		t.Error("the same job with rules loaded twice is not DeepEqual")
	}
	if !reflect.DeepEqual(a.AllOutputs(), b.AllOutputs()) {
		t.Error("the same output with rules loaded twice is not DeepEqual")
	}
}
