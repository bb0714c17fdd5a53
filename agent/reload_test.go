package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

func TestReloadKeepsUnchangedJobsAndSwapsTheRest(t *testing.T) {
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	hello := wat(t, "hello")
	mk := func(name, cfg string) config.Job {
		return config.Job{Name: name, Every: time.Second, Method: "put", Grouping: map[string]string{"instance": "r"},
			Collectors: []config.Collector{testCollector("c", hello, cfg)}}
	}
	gateway := config.Gateway{URL: gw.URL, Timeout: 2 * time.Second}
	first := &config.Config{Gateway: gateway, Jobs: []config.Job{mk("keep", "1"), mk("change", "1"), mk("drop", "1")}}
	// On a fake clock, runs happen when the test advances it: interval jobs
	// run once at start, and again one interval later.
	clock := clockwork.NewFakeClock()
	a := newAgent(t, first, Options{Clock: clock})
	stop := start(t, a)

	// The scheduler owns the run counts (the metric reads them there).
	runs := func(job string) float64 {
		a.mu.Lock()
		s := a.sched
		a.mu.Unlock()
		if s == nil {
			return 0
		}
		n, _ := s.Stats(job)
		return float64(n)
	}
	testenv.Eventually(t, 15*time.Second, "first runs", func() bool { return runs("keep") == 1 && runs("drop") == 1 && runs("change") == 1 })

	// An invalid plugin in the new config: rejected, nothing changes.
	broken := &config.Config{Gateway: gateway, Jobs: []config.Job{mk("keep", "1"),
		{Name: "bad", Every: time.Second, Collectors: []config.Collector{testCollector("x", hello+".missing", "1")}}}}
	if _, err := a.Reload(context.Background(), broken); err == nil || !strings.Contains(err.Error(), `job "bad" collector "x"`) {
		t.Fatalf("reload with a missing plugin: %v", err)
	}
	if got := a.Jobs(); !slices.Equal(got, []string{"keep", "change", "drop"}) {
		t.Fatalf("jobs after a rejected reload = %v", got)
	}

	keepBefore := runs("keep")
	second := &config.Config{Gateway: gateway, Jobs: []config.Job{mk("keep", "1"), mk("change", "2"), mk("add", "1")}}
	res, err := a.Reload(context.Background(), second)
	if err != nil {
		t.Fatal(err)
	}
	want := ReloadResult{Added: []string{"add"}, Changed: []string{"change"}, Removed: []string{"drop"}, Unchanged: []string{"keep"}}
	if !slices.Equal(res.Added, want.Added) || !slices.Equal(res.Changed, want.Changed) ||
		!slices.Equal(res.Removed, want.Removed) || !slices.Equal(res.Unchanged, want.Unchanged) {
		t.Fatalf("reload result = %+v, want %+v", res, want)
	}
	// A job added anew runs at once, and so does a changed one; the
	// unchanged job keeps its schedule: no run until the clock moves.
	testenv.Eventually(t, 15*time.Second, "the added and changed jobs' first runs", func() bool { return runs("add") == 1 && runs("change") == 2 })
	if n := runs("keep"); n != keepBefore {
		t.Errorf("the reload ran the unchanged job: %v runs, %v before", n, keepBefore)
	}
	dropAfter := runs("drop")
	// One interval later the unchanged job runs again (gocron re-arms its
	// timer asynchronously, so the clock moves until it has), the removed
	// one never does.
	testenv.Eventually(t, 15*time.Second, "the unchanged job's next run", func() bool {
		clock.Advance(time.Second)
		return runs("keep") > keepBefore
	})
	if runs("drop") != dropAfter {
		t.Errorf("removed job kept running")
	}
	m := gw.Metrics(t)
	for _, want := range []string{`wat_hello{config="2",instance="r",job="change"}`, `job="add"`} {
		if !strings.Contains(m, want) {
			t.Errorf("gateway lacks %s after reload", want)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestReloadDropsSeriesOfRemovedJobs(t *testing.T) {
	hello := wat(t, "hello")
	job := func(name string) config.Job {
		return config.Job{Name: name, Every: time.Minute, Method: "put", Collectors: []config.Collector{testCollector("c", hello, "1")}}
	}
	gateway := config.Gateway{URL: "http://127.0.0.1:1", Timeout: time.Second}
	a, err := New(context.Background(), &config.Config{Gateway: gateway, Jobs: []config.Job{job("a"), job("b")}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	for _, name := range []string{"a", "b"} {
		if _, err := a.Collect(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Reload(context.Background(), &config.Config{Gateway: gateway, Jobs: []config.Job{job("a")}}); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(a.metrics.collectorRuns); n != 1 {
		t.Errorf("collector run series after removing job b = %d, want 1 (job a only)", n)
	}
}

// TestReloadLoadsARebuiltPlugin: the same config over a plugin file that
// was rebuilt since it was loaded is a changed job, loaded anew; over the
// same file it is unchanged.
func TestReloadLoadsARebuiltPlugin(t *testing.T) {
	plugin := filepath.Join(t.TempDir(), "hello.wasm")
	b, err := os.ReadFile(wat(t, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plugin, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := func() *config.Config {
		return &config.Config{Gateway: config.Gateway{URL: "http://127.0.0.1:1", Timeout: time.Second}, Jobs: []config.Job{{
			Name: "j", Every: time.Minute, Method: "put", Collectors: []config.Collector{testCollector("c", plugin, "1")}}}}
	}
	a, err := New(context.Background(), cfg(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	if res, err := a.Reload(context.Background(), cfg()); err != nil || !slices.Equal(res.Unchanged, []string{"j"}) {
		t.Fatalf("reload over the same file: %+v, %v; want j unchanged", res, err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(plugin, later, later); err != nil {
		t.Fatal(err)
	}
	if res, err := a.Reload(context.Background(), cfg()); err != nil || !slices.Equal(res.Changed, []string{"j"}) {
		t.Fatalf("reload over a rebuilt file: %+v, %v; want j changed", res, err)
	}
}

// TestReloadOutcomeIsRecorded: the load at start and every reload,
// failed or not, are recorded in Prometheus' two reload series and in the
// agent's LastReload, with a failed reload's problems (file:line: path
// for a bad file) and a successful one's changes to jobs and outputs.
func TestReloadOutcomeIsRecorded(t *testing.T) {
	hello := wat(t, "hello")
	job := config.Job{Name: "j", Every: time.Minute, Method: "put", Grouping: map[string]string{"instance": "r"},
		Collectors: []config.Collector{testCollector("c", hello, "1")}}
	gateway := config.Gateway{URL: "http://127.0.0.1:1", Timeout: time.Second}
	clock := clockwork.NewFakeClockAt(time.Unix(1_700_000_000, 0))
	reg := prometheus.NewRegistry()
	a := newAgent(t, &config.Config{Gateway: gateway, Jobs: []config.Job{job}}, Options{Clock: clock, Registry: reg})
	check := func(when string, ok bool, last time.Time) {
		t.Helper()
		want := fmt.Sprintf(`# HELP pushagent_config_last_reload_success_timestamp_seconds Timestamp of the last successful configuration reload.
# TYPE pushagent_config_last_reload_success_timestamp_seconds gauge
pushagent_config_last_reload_success_timestamp_seconds %d
# HELP pushagent_config_last_reload_successful Whether the last configuration reload attempt was successful.
# TYPE pushagent_config_last_reload_successful gauge
pushagent_config_last_reload_successful %d
`, last.Unix(), map[bool]int{true: 1}[ok])
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "pushagent_config_last_reload_successful", "pushagent_config_last_reload_success_timestamp_seconds"); err != nil {
			t.Errorf("%s: %v", when, err)
		}
		if r := a.LastReload(); r.Success != ok || !r.LastSuccess.Equal(last) || !r.Time.Equal(clock.Now()) {
			t.Errorf("%s: LastReload = %+v", when, r)
		}
	}
	start := clock.Now()
	check("at start", true, start)
	if !a.LastReload().Initial {
		t.Error("the load at start is not marked as such")
	}

	clock.Advance(time.Minute)
	path := filepath.Join(t.TempDir(), "schedules.yaml")
	if err := os.WriteFile(path, []byte("gateway: {url: http://127.0.0.1:1}\njobs:\n  - {name: j, evry: 1s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReloadFile(context.Background(), path, config.Options{}); err == nil {
		t.Fatal("a file with an unknown key reloaded")
	}
	check("after a bad file", false, start)
	if p := a.LastReload().Problems; len(p) != 3 || !strings.HasPrefix(p[2], path+":3: jobs[0].evry: unknown key") {
		t.Errorf("problems of the bad file = %q, want three, each file:line: path", p)
	}

	clock.Advance(time.Minute)
	broken := config.Job{Name: "bad", Every: time.Minute, Collectors: []config.Collector{testCollector("x", hello+".missing", "1")}}
	if _, err := a.Reload(context.Background(), &config.Config{Gateway: gateway, Jobs: []config.Job{job, broken}}); err == nil {
		t.Fatal("a missing plugin reloaded")
	}
	check("after a missing plugin", false, start)
	if p := a.LastReload().Problems; len(p) == 0 || !strings.Contains(p[0], `job "bad" collector "x"`) {
		t.Errorf("problems of the missing plugin = %q", p)
	}

	clock.Advance(time.Minute)
	added := config.Job{Name: "k", Every: time.Minute, Method: "put", Grouping: map[string]string{"instance": "r"},
		Collectors: []config.Collector{testCollector("c", hello, "2")}}
	cfg := &config.Config{Gateway: gateway, Jobs: []config.Job{job, added},
		Outputs: []config.Output{{Name: "gw2", Pushgateway: &config.Gateway{URL: "http://127.0.0.1:2", Timeout: time.Second}}}}
	res, err := a.Reload(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	check("after a good reload", true, clock.Now())
	if r := a.LastReload(); r.Initial || len(r.Problems) != 0 || !slices.Equal(r.Result.Added, []string{"k"}) || !slices.Equal(r.Result.OutputsAdded, []string{"gw2"}) {
		t.Errorf("LastReload after adding job k and output gw2 = %+v", r)
	}
	if !slices.Equal(res.OutputsAdded, []string{"gw2"}) || len(res.OutputsChanged)+len(res.OutputsRemoved) != 0 {
		t.Errorf("output changes = %+v", res)
	}

	// Changing and removing outputs.
	cfg2 := &config.Config{Jobs: []config.Job{job, added},
		Outputs: []config.Output{{Name: "gw2", Pushgateway: &config.Gateway{URL: "http://127.0.0.1:3", Timeout: time.Second}}}}
	res, err = a.Reload(context.Background(), cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.OutputsChanged, []string{"gw2"}) || !slices.Equal(res.OutputsRemoved, []string{"gateway"}) || len(res.OutputsAdded) != 0 {
		t.Errorf("output changes = %+v, want gw2 changed and gateway removed", res)
	}
}
