package e2e

// The plugin ABI is language-neutral: the example plugins in
// examples/plugins — C (command and reactor), Rust (command and reactor) and
// hand-written WAT (reactor) — are built from source by their own build.sh
// and run by the real agent binary, next to each other in one job.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
)

// langCollectors are the collectors of the languages job, in config order:
// name, plugin file in the build output, config (YAML) and labels (YAML).
// C and Rust are built twice from one source, so each form gets a form
// label: without it the second form's series would clash with the first's
// and be dropped by the merge rules.
var langCollectors = []struct{ name, plugin, config, labels string }{
	{"c-command", "c-command.wasm", "{name: c-cmd, count: 20}", "{form: command}"},
	{"c-reactor", "c-reactor.wasm", "{name: c-reactor, count: 20}", "{form: reactor}"},
	{"rust-command", "rust-command.wasm", `{name: "rust \"cmd\"", count: 20}`, "{form: command}"},
	{"rust-reactor", "rust-reactor.wasm", "{name: rust-reactor, count: 20}", "{form: reactor}"},
	// The WAT plugin reports the size of its config: a JSON string of 3000
	// characters plus quotes, longer than its 1 KiB read buffer, so it must
	// read stdin in a loop, to EOF.
	{"wat", "wat-reactor.wasm", `"` + strings.Repeat("x", 3000) + `"`, "{}"},
}

const langJob = "e2e-languages"

// buildExamples runs every examples/plugins/*/build.sh into one temporary
// directory and returns it. A missing toolchain skips the test, or fails
// it under CI=true.
func buildExamples(t *testing.T) string {
	t.Helper()
	testenv.RequireBinary(t, "clang")
	testenv.RequireBinary(t, "wasm-ld")
	// Not rustc from PATH: a rustup toolchain in ~/.cargo/bin may shadow
	// Debian's and lack the wasm32-wasi standard library.
	testenv.RequireBinary(t, "/usr/bin/rustc")
	testenv.RequireBinary(t, "wat2wasm")
	testenv.RequireFile(t, "wasi-libc", "/usr/lib/wasm32-wasi/libc.a")
	testenv.RequireFile(t, "libclang-rt-14-dev-wasm32", "/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a")
	testenv.RequireFile(t, "libstd-rust-dev-wasm32", "/usr/lib/rustlib/wasm32-wasi/lib/libstd-*.rlib")

	out := t.TempDir()
	for _, lang := range []string{"c", "rust", "wat"} {
		script := filepath.Join("..", "examples", "plugins", lang, "build.sh")
		start := time.Now()
		if b, err := exec.Command("bash", script, out).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", script, err, b)
		}
		t.Logf("%s: %v", script, time.Since(start).Round(time.Millisecond))
	}
	for _, c := range langCollectors {
		if _, err := os.Stat(filepath.Join(out, c.plugin)); err != nil {
			t.Fatalf("build.sh did not produce %s: %v", c.plugin, err)
		}
	}
	return out
}

// writeLangConfig writes a schedules.yaml with one job, every second, whose
// collectors are langCollectors.
func writeLangConfig(t *testing.T, plugins, gatewayURL string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `gateway:
  url: %s
defaults:
  grouping:
    instance: ${E2E_INSTANCE}
  timeout: 3s
jobs:
  - name: %s
    every: 1s
    collectors:
`, gatewayURL, langJob)
	for _, c := range langCollectors {
		fmt.Fprintf(&b, "      - name: %s\n        plugin: %s\n        config: %s\n        labels: %s\n",
			c.name, filepath.Join(plugins, c.plugin), c.config, c.labels)
	}
	path := filepath.Join(t.TempDir(), "schedules.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLanguagePluginsPushedAndScraped(t *testing.T) {
	t.Parallel()
	plugins := buildExamples(t)
	agent := build(t).agent
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	prom := testenv.StartPrometheus(t, testenv.PrometheusOptions{Targets: []string{gw.Addr}, ScrapeInterval: time.Second})
	cfg := writeLangConfig(t, plugins, gw.URL)

	start := time.Now()
	a := startAgent(t, agent, []string{"E2E_INSTANCE=lang-1"}, "run", "--config", cfg, "--cache-dir", t.TempDir())

	const wait = 60 * time.Second
	sel := func(name, extra string) string {
		return fmt.Sprintf(`%s{job=%q,instance="lang-1"%s}`, name, langJob, extra)
	}
	count := func(n int) func([]testenv.Sample) bool {
		return func(s []testenv.Sample) bool { return len(s) == n }
	}
	one := count(1)
	// Each language's gauge family: 20 series per form, with the job and
	// instance labels of the push, not of the scrape (honor_labels).
	for _, q := range []string{
		sel("c_example_value", `,form="command"`),
		sel("c_example_value", `,form="reactor"`),
		sel("rust_example_value", `,form="command"`),
		sel("rust_example_value", `,form="reactor"`),
		sel("wat_example_value", ""),
	} {
		for _, s := range prom.WaitFor(t, q, wait, count(20)) {
			if _, ok := s.Labels["exported_job"]; ok {
				t.Errorf("%s: exported_job label: honor_labels is off or the plugin emitted job", s)
			}
		}
	}
	// Values computed by the plugin, and its config echoed back.
	for _, q := range []string{
		sel("c_example_value", `,form="command",i="19"`) + " == 361",
		sel("c_example_value", `,form="reactor",i="19"`) + " == 361",
		sel("c_example_config", `,form="command",name="c-cmd"`) + " == 20",
		sel("c_example_config", `,form="reactor",name="c-reactor"`) + " == 20",
		sel("rust_example_value", `,form="command",i="19"`) + " == 9.5",
		sel("rust_example_config", `,form="command",name="rust \"cmd\""`) + " == 20",
		sel("rust_example_config", `,form="reactor",name="rust-reactor"`) + " == 20",
		sel("wat_example_value", `,i="19"`) + " == 190",
		sel("wat_example_config_bytes", "") + " == 3002",
		// Warm reactor: the WAT instance has served several runs.
		sel("wat_example_calls_total", "") + " >= 3",
	} {
		prom.WaitFor(t, q, wait, one)
	}
	// After several runs on warm instances, every collector still succeeds.
	for _, c := range langCollectors {
		prom.WaitFor(t, sel("pushagent_collector_success", fmt.Sprintf(",collector=%q", c.name))+" == 1", wait, one)
		prom.WaitFor(t, sel("pushagent_collector_samples", fmt.Sprintf(",collector=%q", c.name))+" > 0", wait, one)
	}
	t.Logf("all series in Prometheus %v after the agent started", time.Since(start).Round(time.Millisecond))
	a.stop(t)
	if log := a.log(); strings.Contains(log, "collector failed") || strings.Contains(log, "merge rule") {
		t.Errorf("agent log reports a failed collector or a merge conflict:\n%s", log)
	}
}

func TestLanguagePluginsOnce(t *testing.T) {
	t.Parallel()
	plugins := buildExamples(t)
	agent := build(t).agent
	cfg := writeLangConfig(t, plugins, "http://127.0.0.1:1") // once prints, never pushes
	cmd := exec.Command(agent, "once", "--config", cfg, "--cache-dir", "")
	cmd.Env = append(os.Environ(), "E2E_INSTANCE=once-lang")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("once: %v\n%s", err, stderr.String())
	}
	o := stdout.String()
	for _, want := range []string{
		`# job="` + langJob + `" grouping: instance="once-lang" method: put`,
		`c_example_value{form="command",i="0"} 0`,
		`c_example_value{form="command",i="19"} 361`,
		`c_example_value{form="reactor",i="19"} 361`,
		`c_example_config{form="command",name="c-cmd"} 20`,
		`rust_example_value{form="command",i="19"} 9.5`,
		`rust_example_value{form="reactor",i="19"} 9.5`,
		`rust_example_config{form="command",name="rust \"cmd\""} 20`,
		`wat_example_value{i="19"} 190`,
		`wat_example_config_bytes 3002`,
		`wat_example_calls_total 1`,
	} {
		if !strings.Contains(o, want) {
			t.Errorf("once output lacks %s\n%s", want, o)
		}
	}
	for _, c := range langCollectors {
		if want := fmt.Sprintf("pushagent_collector_success{collector=%q} 1", c.name); !strings.Contains(o, want) {
			t.Errorf("once output lacks %s\n%s", want, o)
		}
	}

	// The same C source as a static native binary, the fork/exec baseline
	// of the benchmarks, prints the same series as its wasm builds.
	native := exec.Command(filepath.Join(plugins, "c-native"))
	native.Stdin = strings.NewReader(`{"name": "native", "count": 20}`)
	out, err := native.Output()
	if err != nil {
		t.Fatalf("c-native: %v", err)
	}
	for _, want := range []string{"c_example_value{i=\"19\"} 361\n", "c_example_config{name=\"native\"} 20\n"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("c-native output lacks %q\n%s", want, out)
		}
	}
}
