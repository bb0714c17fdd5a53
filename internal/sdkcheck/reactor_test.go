package sdkcheck

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/agent/wasmhost"
	"github.com/pushagent/pushagent/internal/plugintest"
	"github.com/pushagent/pushagent/internal/testenv"
)

// These tests build the SDK's example plugin to wasm and run it under wazero
// the way the agent does. They are the proof that the SDK's reactor export
// works: the Go runtime has rules for //go:wasmexport functions (no
// blocking, no exit) that only a real wasm run can check. They live in the
// root module because the sdk module has no requirements, and wazero is one.

// examplePkg is the plugin shown in the sdk package documentation.
const examplePkg = "github.com/pushagent/pushagent/sdk/internal/example"

const (
	exampleRunsHeader  = "# HELP example_runs_total Successful runs of this plugin instance.\n# TYPE example_runs_total counter\n"
	exampleValueHeader = "# HELP example_value The value from the config.\n# TYPE example_value gauge\n"
)

func exampleOutput(runs, greeting, value string) string {
	return exampleRunsHeader + "example_runs_total " + runs + "\n" +
		exampleValueHeader + `example_value{greeting="` + greeting + `"} ` + value + "\n"
}

func TestReactorUnderWazero(t *testing.T) {
	t.Parallel()
	rt := plugintest.NewRuntime(t, plugintest.Build(t, examplePkg, true))
	// The agent refuses a module importing anything it does not provide;
	// the SDK logs through stderr, so WASI must be all it needs.
	for _, imp := range rt.Imports() {
		if !strings.HasPrefix(imp, "wasi_snapshot_preview1.") {
			t.Errorf("reactor imports %s", imp)
		}
	}
	if exports := rt.Exports(); slices.Contains(exports, "_start") || !slices.Contains(exports, "_initialize") {
		t.Errorf("reactor exports %v, want _initialize and no _start", exports)
	}
	re := rt.NewReactor(nil)
	t.Logf("memory after _initialize: %d KiB", re.MemoryBytes()/1024)

	// The calls run in order on one instance: example_runs_total counts
	// only successful runs, so it shows both that the instance stays warm
	// and that failed runs leave it usable.
	long := strings.Repeat("x", 100_000)
	for _, c := range []struct {
		name     string
		config   string
		wantCode uint32
		wantOut  string
		wantLog  string
	}{
		{"first config", `{"greeting": "hi", "value": 2.5}`, 0, exampleOutput("1", "hi", "2.5"), `level=INFO msg="run 1 greets \"hi\""`},
		{"second config", `{"greeting": "bonjour", "value": -1}`, 0, exampleOutput("2", "bonjour", "-1"), `msg="run 2 greets \"bonjour\""`},
		{"error from the collect function", `{"fail": true}`, 1, "", `level=ERROR msg="collect failed" err="failing as configured"`},
		{"unknown config field", `{"greting": "typo"}`, 1, "", `err="sdk: decoding config: json: unknown field \"greting\""`},
		{"panic in the collect function", `{"panic": true}`, 1, "", "collect function panicked: panicking as configured"},
		{"empty config uses defaults", ``, 0, exampleOutput("3", "hello", "1"), `greets \"hello\"`},
		{"config larger than one read", `{"greeting": "` + long + `"}`, 0, exampleOutput("4", long, "1"), "run 4"},
	} {
		res := re.Collect(c.config)
		if res.Code != c.wantCode {
			t.Errorf("%s: result %d, want %d\nstderr: %s", c.name, res.Code, c.wantCode, res.Stderr)
		}
		if res.Stdout != c.wantOut {
			t.Errorf("%s: stdout:\n%s\nwant:\n%s", c.name, res.Stdout, c.wantOut)
		}
		if !strings.Contains(res.Stderr, c.wantLog) {
			t.Errorf("%s: stderr %q does not contain %q", c.name, res.Stderr, c.wantLog)
		}
	}
	t.Logf("memory after the calls: %d KiB", re.MemoryBytes()/1024)
}

func TestCommandUnderWazero(t *testing.T) {
	t.Parallel()
	rt := plugintest.NewRuntime(t, plugintest.Build(t, examplePkg, false))
	// The agent treats any module exporting pushagent_collect as a reactor,
	// so the command form must not export it.
	if exports := rt.Exports(); !slices.Contains(exports, "_start") || slices.Contains(exports, "pushagent_collect") {
		t.Errorf("command exports %v, want _start and no pushagent_collect", exports)
	}
	for _, c := range []struct {
		config   string
		wantCode uint32
		wantOut  string
		wantLog  string
	}{
		{`{"greeting": "hi"}`, 0, exampleOutput("1", "hi", "1"), "run 1"},
		// A fresh instance per run: the count starts again.
		{`{"greeting": "again"}`, 0, exampleOutput("1", "again", "1"), "run 1"},
		{`{"fail": true}`, 1, "", `err="failing as configured"`},
		{`{"panic": true}`, 1, "", "collect function panicked"},
	} {
		res := rt.RunCommand(c.config, nil)
		if res.Code != c.wantCode {
			t.Errorf("config %s: exit code %d, want %d\nstderr: %s", c.config, res.Code, c.wantCode, res.Stderr)
		}
		if res.Stdout != c.wantOut {
			t.Errorf("config %s: stdout:\n%s\nwant:\n%s", c.config, res.Stdout, c.wantOut)
		}
		if !strings.Contains(res.Stderr, c.wantLog) {
			t.Errorf("config %s: stderr %q does not contain %q", c.config, res.Stderr, c.wantLog)
		}
	}
}

// TestReactorUnderAgentHost runs the example through the agent's own wasm
// host, limits, pool and log forwarding included: the SDK's logfmt lines
// must reach the agent's log as one record each, and a failed run must be an
// error with no output that carries the plugin's reason.
func TestReactorUnderAgentHost(t *testing.T) {
	t.Parallel()
	p := plugintest.LoadReactor(t, examplePkg)
	ctx := context.Background()
	for i, c := range []struct {
		config  string
		wantOut string
		wantErr bool
		wantLog string
		// logged: a failed run's record is logged besides its error, for
		// what the error leaves out (a panic's stack).
		logged bool
	}{
		{`{"greeting": "hi"}`, exampleOutput("1", "hi", "1"), false, "run 1 greets", true},
		{`{"fail": true}`, "", true, `failing as configured`, false},
		{`{"panic": true}`, "", true, `collect function panicked: panicking as configured`, true},
		{`{"greeting": "again", "value": 0.5}`, exampleOutput("2", "again", "0.5"), false, "run 2 greets", true},
	} {
		var logs testenv.Logs
		out, err := p.Run(ctx, wasmhost.Request{Config: []byte(c.config), Logger: logs.Logger()})
		if (err != nil) != c.wantErr {
			t.Errorf("run %d: error %v, want error %v\nlogs:\n%s", i, err, c.wantErr, logs.String())
		}
		if string(out) != c.wantOut {
			t.Errorf("run %d: output:\n%s\nwant:\n%s", i, out, c.wantOut)
		}
		// A failed run's reason travels in its error, which the agent logs
		// once ("collector failed"); a record it says whole is not logged
		// again on its own.
		if c.wantErr && (err == nil || !strings.Contains(err.Error(), c.wantLog)) {
			t.Errorf("run %d: error %v does not carry %q", i, err, c.wantLog)
		}
		if !c.logged && strings.Contains(logs.String(), c.wantLog) {
			t.Errorf("run %d: the reason %q is logged besides its error:\n%s", i, c.wantLog, logs.String())
		}
		if c.logged && !strings.Contains(logs.String(), c.wantLog) {
			t.Errorf("run %d: logs do not contain %q:\n%s", i, c.wantLog, logs.String())
		}
	}
}
