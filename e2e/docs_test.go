package e2e

// Tests that keep the operator documentation honest: the alerting rules are
// valid for Prometheus (and fire when they should), every complete config
// example in docs/config.md loads, the error examples there are exactly what
// the loader reports, every key and flag of the code is documented, and
// every metric the agent serves is described in docs/operations.md.

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

// docsEnv is the environment the config examples are loaded with. The
// examples may use these variables and no others; the error examples rely
// on NODE, API_TOKEN and PGW_TOKEN being unset.
var docsEnv = []string{
	"HOSTNAME=web-1",
	"PGW_PASSWORD=docs-password",
	"ORDERS_KEY=docs-orders-key",
	"QUEUE_TOKEN=docs-queue-token",
	"TZ=UTC",
}

// docsConfigDir is where the examples in docs/config.md pretend to live;
// error messages name it instead of the test's temporary directory.
const docsConfigDir = "/etc/pushagent"

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDocsAlertRules(t *testing.T) {
	promtool := testenv.RequireBinary(t, "promtool")
	rules, err := filepath.Abs(filepath.Join("..", "docs", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules docs/alerts.yml: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules docs/alerts.yml did not report SUCCESS:\n%s", out)
	}

	// The rules must also fire for the situations they describe, and stay
	// quiet otherwise: promtool's rule unit tests, on synthetic series. They
	// run on a copy without annotations (promtool would compare those too;
	// the check above has validated their templates).
	dir := t.TempDir()
	bare := filepath.Join(dir, "alerts.yml")
	if err := os.WriteFile(bare, withoutAnnotations(t, rules), 0o644); err != nil {
		t.Fatal(err)
	}
	test := filepath.Join(dir, "alerts_test.yml")
	unit := strings.ReplaceAll(alertsUnitTests, "RULES_FILE", strconv.Quote(bare))
	if err := os.WriteFile(test, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(promtool, "test", "rules", test).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules (docs/alerts.yml): %v\n%s", err, out)
	}
}

// withoutAnnotations returns the rule file at path with the annotations of
// every rule removed.
func withoutAnnotations(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string           `yaml:"name"`
			Rules []map[string]any `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			delete(r, "annotations")
		}
	}
	out, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// alertsUnitTests are promtool rule tests for docs/alerts.yml. Series of the
// agent's own /metrics carry exported_job (the scrape renames the agent's
// job label, as docs/operations.md explains); pushed series carry job.
const alertsUnitTests = `
rule_files: [RULES_FILE]
evaluation_interval: 1m
tests:
  - name: a failing collector, a stale group, failing pushes, a down agent
    interval: 1m
    input_series:
      - series: 'pushagent_collector_success{job="node",instance="web-1",collector="procfs"}'
        values: '1 1 0x30'
      - series: 'pushagent_collector_success{job="node",instance="web-1",collector="ok"}'
        values: '1x40'
      - series: 'push_time_seconds{job="node",instance="web-1"}'
        values: '0 60 120 180 180x30'
      - series: 'push_time_seconds{job="fresh",instance="web-1"}'
        values: '0+60x40'
      - series: 'pushagent_push_failures_total{job="pushagent",instance="web-1:9465",exported_job="node",reason="http_503"}'
        values: '0+1x40'
      - series: 'pushagent_push_failures_total{job="pushagent",instance="web-1:9465",exported_job="node",reason="http_401"}'
        values: '0 0 1+1x30'
      - series: 'pushagent_pushes_total{job="pushagent",instance="web-1:9465",exported_job="node"}'
        values: '0+1x40'
      - series: 'pushagent_pushes_total{job="pushagent",instance="web-1:9465",exported_job="node",output="tsdb"}'
        values: '0+1x40'
      - series: 'pushagent_last_successful_push_timestamp_seconds{job="pushagent",instance="web-1:9465",exported_job="node"}'
        values: '0x40'
      - series: 'up{job="pushagent",instance="web-1:9465"}'
        values: '1 1 0x30'
      - series: 'pushagent_output_buffer_oldest_age_seconds{job="pushagent",instance="web-1:9465",output="tsdb"}'
        values: '0 0 60+60x30'
      - series: 'pushagent_output_samples_dropped_total{job="pushagent",instance="web-1:9465",output="tsdb"}'
        values: '0x15 100+100x20'
      - series: 'pushagent_output_buffer_corruptions_total{job="pushagent",instance="web-1:9465",output="tsdb"}'
        values: '0x10 1x30'
      - series: 'pushagent_config_last_reload_successful{job="pushagent",instance="web-1:9465"}'
        values: '1x5 0x30'
    alert_rule_test:
      - eval_time: 20m
        alertname: PushagentRemoteWriteBehind
        exp_alerts:
          - exp_labels: {severity: warning, job: pushagent, instance: web-1:9465, output: tsdb}
      - eval_time: 20m
        alertname: PushagentRemoteWriteDropping
        exp_alerts:
          - exp_labels: {severity: critical, job: pushagent, instance: web-1:9465, output: tsdb}
      - eval_time: 20m
        alertname: PushagentRemoteWriteBufferCorrupt
        exp_alerts:
          - exp_labels: {severity: warning, job: pushagent, instance: web-1:9465, output: tsdb}
      - eval_time: 20m
        alertname: PushagentConfigReloadFailed
        exp_alerts:
          - exp_labels: {severity: warning, job: pushagent, instance: web-1:9465}
      - eval_time: 20m
        alertname: PushagentCollectorFailing
        exp_alerts:
          - exp_labels: {severity: warning, job: node, instance: web-1, collector: procfs}
      - eval_time: 20m
        alertname: PushagentGroupStale
        exp_alerts:
          - exp_labels: {severity: warning, job: node, instance: web-1}
      - eval_time: 20m
        alertname: PushagentPushesFailing
        exp_alerts:
          - exp_labels: {severity: warning, job: pushagent, instance: web-1:9465, exported_job: node, reason: http_503}
      - eval_time: 20m
        alertname: PushagentPushRejected
        exp_alerts:
          - exp_labels: {severity: critical, job: pushagent, instance: web-1:9465, exported_job: node, reason: http_401}
      - eval_time: 20m
        alertname: PushagentNoSuccessfulPush
        exp_alerts:
          - exp_labels: {severity: critical, job: pushagent, instance: web-1:9465, exported_job: node}
      - eval_time: 20m
        alertname: PushagentDown
        exp_alerts:
          - exp_labels: {severity: critical, job: pushagent, instance: web-1:9465}
  - name: all healthy
    interval: 1m
    input_series:
      - series: 'pushagent_collector_success{job="node",instance="web-1",collector="procfs"}'
        values: '1x40'
      - series: 'push_time_seconds{job="node",instance="web-1"}'
        values: '0+60x40'
      - series: 'pushagent_push_failures_total{job="pushagent",instance="web-1:9465",exported_job="node",reason="http_503"}'
        values: '0x40'
      - series: 'pushagent_pushes_total{job="pushagent",instance="web-1:9465",exported_job="node"}'
        values: '0+1x40'
      - series: 'pushagent_last_successful_push_timestamp_seconds{job="pushagent",instance="web-1:9465",exported_job="node"}'
        values: '0+60x40'
      - series: 'up{job="pushagent",instance="web-1:9465"}'
        values: '1x40'
      - series: 'pushagent_output_buffer_corruptions_total{job="pushagent",instance="web-1:9465",output="tsdb"}'
        values: '0x40'
      - series: 'pushagent_config_last_reload_successful{job="pushagent",instance="web-1:9465"}'
        values: '1x40'
    alert_rule_test:
      - {eval_time: 30m, alertname: PushagentCollectorFailing}
      - {eval_time: 30m, alertname: PushagentGroupStale}
      - {eval_time: 30m, alertname: PushagentPushesFailing}
      - {eval_time: 30m, alertname: PushagentPushRejected}
      - {eval_time: 30m, alertname: PushagentNoSuccessfulPush}
      - {eval_time: 30m, alertname: PushagentDown}
      - {eval_time: 30m, alertname: PushagentRemoteWriteBehind}
      - {eval_time: 30m, alertname: PushagentRemoteWriteDropping}
      - {eval_time: 30m, alertname: PushagentRemoteWriteBufferCorrupt}
      - {eval_time: 30m, alertname: PushagentConfigReloadFailed}
`

// docBlock is a fenced code block of a Markdown file.
type docBlock struct {
	lang   string
	line   int    // line of the opening fence
	marker string // the "<!-- docs-test: … -->" comment right before it, if any
	text   string
}

var markerRE = regexp.MustCompile(`^<!--\s*docs-test:\s*(.*?)\s*-->$`)

func fencedBlocks(t *testing.T, doc string) []docBlock {
	t.Helper()
	var (
		blocks  []docBlock
		cur     *docBlock
		body    strings.Builder
		pending string
	)
	sc := bufio.NewScanner(strings.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &docBlock{lang: strings.TrimSpace(strings.TrimPrefix(line, "```")), line: n, marker: pending}
			body.Reset()
			pending = ""
		case cur != nil && strings.TrimSpace(line) == "```":
			cur.text = body.String()
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line)
			body.WriteByte('\n')
		default:
			if m := markerRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
				pending = m[1]
			} else if strings.TrimSpace(line) != "" {
				pending = ""
			}
		}
	}
	if cur != nil {
		t.Fatalf("code block opened at line %d is not closed", cur.line)
	}
	return blocks
}

// isCompleteConfig reports whether a YAML block is a whole config file (it
// has top-level gateway and jobs sections), as opposed to a fragment.
func isCompleteConfig(text string) bool {
	return hasTopLevel(text, "gateway") && hasTopLevel(text, "jobs")
}

// TestDocsConfigExamples loads every config example of docs/config.md with
// the real loader (fragments inside a minimal file), and checks that each
// error example produces exactly the messages shown under it. Markers in an
// HTML comment right before a block: "invalid" (an error example, followed
// by a text block with the messages), "skip" (not a config).
func TestDocsConfigExamples(t *testing.T) {
	blocks := fencedBlocks(t, readDoc(t, "config.md"))
	opts := config.Options{
		Environ:  func() []string { return slices.Clone(docsEnv) },
		Hostname: func() (string, error) { return "web-1", nil },
	}
	valid, invalid, fragments := 0, 0, 0
	for i, b := range blocks {
		if b.lang != "yaml" {
			continue
		}
		name := "line" + strconv.Itoa(b.line)
		switch {
		case strings.HasPrefix(b.marker, "invalid"):
			invalid++
			if i+1 >= len(blocks) || blocks[i+1].lang != "text" {
				t.Errorf("config.md:%d: an invalid example must be followed by a text block with the expected messages", b.line)
				continue
			}
			t.Run(name, func(t *testing.T) { checkInvalidExample(t, b, blocks[i+1].text, opts) })
		case b.marker == "skip":
		case isCompleteConfig(b.text):
			valid++
			t.Run(name, func(t *testing.T) { checkValidExample(t, b, opts) })
		default:
			// A fragment (a gateway section, a list of jobs or collectors):
			// checked inside a minimal file.
			fragments++
			whole, ok := completeFragment(b.text)
			if !ok {
				t.Errorf("config.md:%d: a yaml block that is neither a whole config nor a gateway, jobs or collectors fragment; mark it <!-- docs-test: skip --> if it is not a config", b.line)
				continue
			}
			b.text = whole
			t.Run(name, func(t *testing.T) { checkValidExample(t, b, opts) })
		}
	}
	if valid < 2 || invalid < 3 || fragments < 3 {
		t.Errorf("docs/config.md has %d complete examples, %d fragments and %d error examples; expected at least 2, 3 and 3 (did the markers change?)", valid, fragments, invalid)
	}
}

// completeFragment turns a fragment into a whole config: a gateway section
// gets a job, a jobs list gets a gateway, and a collectors list becomes the
// collectors of a job.
func completeFragment(text string) (string, bool) {
	const (
		gateway = "gateway: {url: \"http://127.0.0.1:9091\"}\n"
		job     = "jobs:\n  - name: docs\n    every: 15s\n"
	)
	switch {
	case hasTopLevel(text, "gateway"):
		return text + job + "    collectors: [{name: docs, plugin: plugins/docs.wasm}]\n", true
	case hasTopLevel(text, "jobs"):
		return gateway + text, true
	case hasTopLevel(text, "collectors"):
		var b strings.Builder
		b.WriteString(gateway + job)
		for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
			if strings.HasPrefix(l, "#") {
				continue
			}
			b.WriteString("    " + l + "\n")
		}
		return b.String(), true
	}
	return "", false
}

func hasTopLevel(text, key string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, key+":") {
			return true
		}
	}
	return false
}

// fileKeys name a file that must exist when the config is loaded; the test
// creates an empty one (or a secret) for each.
var fileKeys = map[string]bool{
	"plugin": true, "ca_file": true, "cert_file": true, "key_file": true,
	"password_file": true, "bearer_token_file": true,
}

// checkValidExample writes the example into a temporary directory, creates
// every file and directory it names (absolute paths are moved under the
// temporary directory), and loads it.
func checkValidExample(t *testing.T, b docBlock, opts config.Options) {
	dir := t.TempDir()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(b.text), &doc); err != nil {
		t.Fatalf("config.md:%d: not YAML: %v", b.line, err)
	}
	// place returns where a path of the example lives in the test.
	place := func(p string) string {
		if filepath.IsAbs(p) {
			return filepath.Join(dir, "root", p)
		}
		return filepath.Join(dir, p)
	}
	mkfile := func(p string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("docs-secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				switch {
				case k.Value == "config": // the plugin's input, not the agent's
				case fileKeys[k.Value] && v.Kind == yaml.ScalarNode && !strings.Contains(v.Value, "$"):
					p := place(v.Value)
					mkfile(p)
					if filepath.IsAbs(v.Value) {
						v.Value = p
					}
				case k.Value == "mounts" && v.Kind == yaml.MappingNode:
					for j := 1; j < len(v.Content); j += 2 {
						host := v.Content[j]
						p := place(host.Value)
						if err := os.MkdirAll(p, 0o755); err != nil {
							t.Fatal(err)
						}
						if filepath.IsAbs(host.Value) {
							host.Value = p
						}
					}
				default:
					walk(v)
				}
			}
		}
	}
	walk(&doc)
	data, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse(data, filepath.Join(dir, "schedules.yaml"), opts); err != nil {
		t.Errorf("config.md:%d: the example does not load:\n%v", b.line, err)
	}
}

// checkInvalidExample loads an error example as it is written (line numbers
// matter) and compares the messages, with the temporary directory shown as
// docsConfigDir, with the lines of the text block after it. The marker may
// list files to create: "invalid; files: plugins/a.wasm plugins/b.wasm".
func checkInvalidExample(t *testing.T, b docBlock, want string, opts config.Options) {
	dir := t.TempDir()
	if _, files, ok := strings.Cut(b.marker, "files:"); ok {
		for _, f := range strings.Fields(files) {
			p := filepath.Join(dir, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, err := config.Parse([]byte(b.text), filepath.Join(dir, "schedules.yaml"), opts)
	if err == nil {
		t.Fatalf("config.md:%d: the error example loads without errors", b.line)
	}
	got := strings.ReplaceAll(err.Error(), dir, docsConfigDir)
	var wantLines []string
	for _, l := range strings.Split(strings.TrimSpace(want), "\n") {
		if !strings.HasPrefix(l, "$ ") {
			wantLines = append(wantLines, l)
		}
	}
	if got != strings.Join(wantLines, "\n") {
		t.Errorf("config.md:%d: the messages shown differ from what the loader reports.\n--- shown:\n%s\n--- reported:\n%s",
			b.line, strings.Join(wantLines, "\n"), got)
	}
}

// TestDocsFlags checks that every command-line flag (cmd/pushagent) is
// mentioned in docs/config.md. (Config keys are held to the reference tables
// by agent/config's own test, from the declarations the loader reads them by.)
func TestDocsFlags(t *testing.T) {
	doc := readDoc(t, "config.md")
	flags := stringArgs(t, filepath.Join("..", "cmd", "pushagent"), func(call *ast.CallExpr, name string) int {
		switch name {
		case "String", "Bool", "Duration", "Int":
			return 0 // fs.String(name, value, usage)
		case "StringVar", "BoolVar", "DurationVar", "IntVar":
			return 1 // fs.StringVar(&v, name, value, usage)
		}
		return -1
	})
	if len(flags) < 5 {
		t.Fatalf("found only %d flags in cmd/pushagent", len(flags))
	}
	for _, f := range flags {
		if !strings.Contains(doc, "`--"+f+"`") {
			t.Errorf("flag --%s is not documented in docs/config.md (Flags and exit codes)", f)
		}
	}
}

// stringArgs parses the non-test Go files of dir and returns the string
// literal arguments of method calls: for each call whose selector name is
// accepted by from (which returns the first argument to take, or -1), the
// literals from that argument on (only that argument for flags).
func stringArgs(t *testing.T, dir string, from func(*ast.CallExpr, string) int) []string {
	t.Helper()
	fset := token.NewFileSet()
	matches, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var out []string
	for _, path := range matches {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			first := from(call, sel.Sel.Name)
			if first < 0 || first >= len(call.Args) {
				return true
			}
			args := call.Args[first:]
			if sel.Sel.Name != "object" {
				args = args[:1]
			}
			for _, a := range args {
				lit, ok := a.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				s, err := strconv.Unquote(lit.Value)
				if err == nil && !seen[s] {
					seen[s] = true
					out = append(out, s)
				}
			}
			return true
		})
	}
	return out
}

// TestDocsMetrics checks that every series the agent serves on /metrics
// (agent/metrics.go) and every status series it pushes (agent/merge) is
// described in docs/operations.md.
func TestDocsMetrics(t *testing.T) {
	doc := readDoc(t, "operations.md")
	nameRE := regexp.MustCompile(`(?:Name: |NewDesc\(|Name\s+= )"(pushagent_[a-z0-9_]+)"`)
	var names []string
	for _, src := range []string{"metrics.go", filepath.Join("merge", "merge.go")} {
		b, err := os.ReadFile(filepath.Join("..", "agent", src))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range nameRE.FindAllStringSubmatch(string(b), -1) {
			names = append(names, m[1])
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %d metric names in agent/metrics.go and agent/merge/merge.go: %v", len(names), names)
	}
	for _, n := range names {
		if !regexp.MustCompile(`\b` + n + `\b`).MatchString(doc) {
			t.Errorf("metric %s is not described in docs/operations.md", n)
		}
	}
}

// The cost of a run is measured in docs/benchmarks.md and quoted nowhere
// else with other numbers: four docs once gave four different figures
// (0.8 ms, 74.6 µs, 55 µs, 75 µs). A duration on a line about what a run,
// call or instance costs must be one benchmarks.md gives, verbatim, and
// every link into benchmarks.md must name one of its headings.
func TestDocsRunCostFigures(t *testing.T) {
	bench := readDoc(t, "benchmarks.md")
	anchors := map[string]bool{}
	for _, l := range strings.Split(bench, "\n") {
		if strings.HasPrefix(l, "#") {
			anchors[githubAnchor(strings.TrimLeft(l, "# "))] = true
		}
	}
	figure := regexp.MustCompile(`[0-9][0-9,.]*[  ]?(µs|ms)\b`)
	aboutCost := regexp.MustCompile(`(?i)cpu|per run|per call|a call|instance`)
	link := regexp.MustCompile(`benchmarks\.md#([^)\s]+)`)
	for _, name := range []string{"../README.md", "operations.md", "plugin-sdk.md", "plugin-abi.md", "RATIONALE.md"} {
		doc := readDoc(t, name)
		for i, l := range strings.Split(doc, "\n") {
			for _, f := range figure.FindAllString(l, -1) {
				quoted := regexp.MustCompile(`(^|[^0-9.,])` + regexp.QuoteMeta(f)).MatchString(bench)
				if (strings.HasSuffix(f, "µs") || aboutCost.MatchString(l)) && !quoted {
					t.Errorf("%s:%d: %q is not a figure of docs/benchmarks.md; link to the figure there instead of quoting another:\n%s", name, i+1, f, l)
				}
			}
			for _, m := range link.FindAllStringSubmatch(l, -1) {
				if !anchors[m[1]] {
					t.Errorf("%s:%d: link to benchmarks.md#%s: no such heading there", name, i+1, m[1])
				}
			}
		}
	}
}

// githubAnchor is the id GitHub gives a Markdown heading: lower case,
// punctuation dropped, spaces as hyphens.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
