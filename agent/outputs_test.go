package agent

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

// pushTime is the push_time_seconds of job's group at the gateway, 0 when
// there is none.
func pushTime(t *testing.T, gw *testenv.Pushgateway, job string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^push_time_seconds\{[^}]*job="` + job + `"[^}]*\} (\S+)$`)
	m := re.FindStringSubmatch(gw.Metrics(t))
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestOutputsFailOnTheirOwn: a job with two Pushgateways and a
// remote_write output. With the receiver down the gateways keep getting
// every run; with a gateway down, the other gateway and the receiver do.
func TestOutputsFailOnTheirOwn(t *testing.T) {
	t.Parallel()
	hello := wat(t, "hello")
	gw1 := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	gw2 := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	vm := testenv.StartVictoriaMetrics(t)
	cfg := &config.Config{
		Outputs: []config.Output{
			{Name: "gw1", Pushgateway: &config.Gateway{URL: gw1.URL, Timeout: time.Second}},
			{Name: "gw2", Pushgateway: &config.Gateway{URL: gw2.URL, Timeout: time.Second}},
			{Name: "tsdb", RemoteWrite: &config.RemoteWrite{URL: vm.WriteURL, Timeout: time.Second,
				Buffer: config.Buffer{Dir: filepath.Join(t.TempDir(), "buffer"), MaxSize: 16 << 20}}},
		},
		Jobs: []config.Job{{Name: "multi", Every: time.Second, Method: "put", Grouping: map[string]string{"instance": "x"},
			Collectors: []config.Collector{testCollector("c", hello, "1")}}},
	}
	logs := &testenv.Logs{}
	a := newAgent(t, cfg, Options{Logger: logs.Logger()})
	start(t, a)
	delivered := func() float64 {
		s := vm.Query(t, `count_over_time(wat_hello{job="multi"}[10m])`)
		if len(s) != 1 {
			return 0
		}
		return s[0].Value
	}
	testenv.Eventually(t, 20*time.Second, "every output receiving", func() bool {
		return pushTime(t, gw1, "multi") > 0 && pushTime(t, gw2, "multi") > 0 && delivered() > 0
	})

	vm.Stop()
	since := float64(time.Now().Unix())
	testenv.Eventually(t, 10*time.Second, "pushes to both gateways while the receiver is down", func() bool {
		return pushTime(t, gw1, "multi") > since+1 && pushTime(t, gw2, "multi") > since+1
	})
	vm.Restart()

	gw1.Stop()
	before := delivered()
	since = float64(time.Now().Unix())
	testenv.Eventually(t, 30*time.Second, "the receiver and the other gateway getting runs while a gateway is down", func() bool {
		return delivered() >= before+3 && pushTime(t, gw2, "multi") > since+1
	})
	var gw1Status, tsdbStatus PushStatus
	for _, p := range a.Status()[0].Outputs {
		switch p.Output {
		case "gw1":
			gw1Status = p
		case "tsdb":
			tsdbStatus = p
		}
	}
	if gw1Status.OK || gw1Status.FailingSince.IsZero() || !tsdbStatus.OK {
		t.Errorf("statuses: gw1 %+v, tsdb %+v; want gw1 failing on its own", gw1Status, tsdbStatus)
	}
	if ok, reasons := a.Ready(0); ok || len(reasons) != 1 || !strings.Contains(reasons[0], `output "gw1"`) {
		t.Errorf("readiness = %v %q; want one reason, naming gw1", ok, reasons)
	}
}
