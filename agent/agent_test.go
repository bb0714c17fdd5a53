package agent

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

func wat(t *testing.T, name string) string {
	t.Helper()
	bin := testenv.RequireBinary(t, "wat2wasm")
	out := filepath.Join(t.TempDir(), name+".wasm")
	if b, err := exec.Command(bin, filepath.Join("wasmhost", "testdata", name+".wat"), "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	return out
}

// newAgent builds an agent that is closed when the test ends.
func newAgent(t *testing.T, cfg *config.Config, opts Options) *Agent {
	t.Helper()
	a, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	return a
}

// start runs a until the returned stop is called (or the test ends, before
// a is closed); stop returns what Run returned.
func start(t *testing.T, a *Agent) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func testCollector(name, plugin, cfg string) config.Collector {
	return config.Collector{Name: name, Plugin: plugin, Config: []byte(cfg), Timeout: 300 * time.Millisecond, MemoryLimit: 1 << 20, MaxOutput: 1 << 16}
}

func TestCollectIsolatesFailingCollectors(t *testing.T) {
	hello, bad := wat(t, "hello"), wat(t, "misbehave")
	cfg := &config.Config{
		Gateway: config.Gateway{URL: "http://127.0.0.1:1", Timeout: time.Second},
		Jobs: []config.Job{{
			Name: "j", Every: time.Minute, Method: "put", Grouping: map[string]string{"instance": "x"},
			Collectors: []config.Collector{
				testCollector("ok", hello, "1"),
				testCollector("loops", bad, `"loop"`),
				testCollector("traps", bad, `"trap"`),
				testCollector("floods", bad, `"flood"`),
			},
		}},
	}
	reg := prometheus.NewRegistry()
	a, err := New(context.Background(), cfg, Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	start := time.Now()
	c, err := a.Collect(context.Background(), "j")
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("collectors did not run concurrently within their deadlines: %v", took)
	}
	want := map[string]bool{"ok": true, "loops": false, "traps": false, "floods": false}
	for _, st := range c.Statuses {
		if st.Success != want[st.Collector] {
			t.Errorf("collector %s success = %v (%v)", st.Collector, st.Success, st.Err)
		}
		if !st.Success && !strings.Contains(st.Err.Error(), `job "j" collector "`+st.Collector+`"`) {
			t.Errorf("error does not name job and collector: %v", st.Err)
		}
	}
	if n := testutil.ToFloat64(a.metrics.collectorFailures.WithLabelValues("j", "loops", "timeout")); n != 1 {
		t.Errorf("failure counter = %v", n)
	}
	found := false
	for _, f := range families(c) {
		if f.GetName() == "wat_hello" {
			found = true
		}
	}
	if !found {
		t.Error("the good collector's series are missing")
	}
}

func TestNewReportsEveryPluginThatCannotLoad(t *testing.T) {
	cfg := &config.Config{
		Gateway: config.Gateway{URL: "http://127.0.0.1:1"},
		Jobs: []config.Job{
			{Name: "a", Every: time.Minute, Collectors: []config.Collector{testCollector("x", wat(t, "badimport"), "{}")}},
			{Name: "b", Every: time.Minute, Collectors: []config.Collector{testCollector("y", filepath.Join(t.TempDir(), "gone.wasm"), "{}")}},
		},
	}
	_, err := New(context.Background(), cfg, Options{})
	if err == nil {
		t.Fatal("New succeeded")
	}
	for _, want := range []string{`job "a" collector "x"`, "env.get_secret", `job "b" collector "y"`, "gone.wasm"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestMain(m *testing.M) { testenv.Main(m) }
