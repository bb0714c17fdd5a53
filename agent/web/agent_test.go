package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/goleak"

	"github.com/pushagent/pushagent/agent"
	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

// TestMain checks that no test leaves a goroutine behind: the agent, the
// HTTP servers and the browser must all be stopped.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// downGateway is where nothing listens: every push fails, fast, with
// "connection refused".
const downGateway = "http://127.0.0.1:1"

// gatewaySecret is a password the agent is configured with; no page may
// show it.
const gatewaySecret = "hunter2-do-not-show"

// wat builds agent/wasmhost/testdata/NAME.wat into a plugin.
func wat(t testing.TB, name string) string {
	t.Helper()
	bin := testenv.RequireBinary(t, "wat2wasm")
	out := filepath.Join(t.TempDir(), name+".wasm")
	src := filepath.Join("..", "wasmhost", "testdata", name+".wat")
	if b, err := exec.Command(bin, src, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", src, err, b)
	}
	return out
}

func collector(name, plugin, cfg string) config.Collector {
	return config.Collector{Name: name, Plugin: plugin, Config: []byte(cfg),
		Timeout: 2 * time.Second, MemoryLimit: 1 << 20, MaxOutput: 1 << 16}
}

// okGateway is a stand-in Pushgateway that accepts every push.
func okGateway(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// runAgent starts a real agent with one job, "batch-worker", pushing to
// gateway every second, and returns once that job has finished a run. The
// agent is stopped when the test ends.
func runAgent(t testing.TB, gateway string, cols ...config.Collector) (*agent.Agent, *prometheus.Registry) {
	t.Helper()
	cfg := &config.Config{
		Path: "test.yaml",
		Gateway: config.Gateway{URL: gateway, Timeout: 200 * time.Millisecond,
			BasicAuth: &config.BasicAuth{Username: "pusher", Password: config.Secret(gatewaySecret)}},
		Jobs: []config.Job{{
			Name: "batch-worker", Every: time.Second, Method: "put",
			Grouping:   map[string]string{"instance": "host-1", "zone": "eu-1"},
			Collectors: cols,
		}},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	a, err := agent.New(context.Background(), cfg, agent.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent.Run: %v", err)
		}
		if err := a.Close(context.Background()); err != nil {
			t.Errorf("agent.Close: %v", err)
		}
	})
	testenv.Eventually(t, 15*time.Second, "first finished run of the job", func() bool { return !a.Status()[0].LastRun.IsZero() })
	return a, reg
}

// failingAgent runs a job whose gateway is down, with a good collector and
// one whose plugin traps.
func failingAgent(t testing.TB) (*agent.Agent, *prometheus.Registry) {
	t.Helper()
	return runAgent(t, downGateway,
		collector("hello", wat(t, "hello"), "1"),
		collector("trapper", wat(t, "misbehave"), `"trap"`))
}
