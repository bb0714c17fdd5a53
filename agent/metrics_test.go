package agent

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

// TestOwnMetricsPassPromtool runs a job with a good, a trapping and a
// timing-out collector against a real gateway, then checks the agent's
// /metrics content with `promtool check metrics` (naming conventions,
// help, units) and that the series it must have are there.
func TestOwnMetricsPassPromtool(t *testing.T) {
	promtool := testenv.RequireBinary(t, "promtool")
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	hello, bad := wat(t, "hello"), wat(t, "misbehave")
	reactor := wat(t, "reactor")
	cfg := &config.Config{
		Gateway: config.Gateway{URL: gw.URL, Timeout: 2 * time.Second},
		Jobs: []config.Job{{
			Name: "j", Every: time.Second, Method: "put", Grouping: map[string]string{"instance": "x"},
			Collectors: []config.Collector{testCollector("ok", hello, "1"), testCollector("traps", bad, `"trap"`),
				testCollector("loops", bad, `"loop"`), testCollector("warm", reactor, "1")},
		}},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a, err := New(context.Background(), cfg, Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	c, err := a.Collect(context.Background(), "j")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Push(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	enc := expfmt.NewEncoder(&text, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for _, want := range []string{
		`pushagent_collector_failures_total{collector="traps",job="j",reason="trap"} 1`,
		`pushagent_collector_failures_total{collector="loops",job="j",reason="timeout"} 1`,
		`pushagent_collector_last_success_timestamp_seconds{collector="ok",job="j"}`,
		`pushagent_push_attempts_total{job="j",output="gateway"} 1`,
		`pushagent_pushes_total{job="j",output="gateway"} 1`,
		`pushagent_plugin_warm_instances{plugin="reactor.wasm@1MiB"} 1`,
		`pushagent_plugin_memory_pages{plugin="reactor.wasm@1MiB"} 1`,
		`pushagent_plugin_compile_seconds{plugin="hello.wasm@1MiB"}`,
		`pushagent_collector_run_duration_seconds_bucket{collector="ok",job="j",le="0.005"}`,
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
