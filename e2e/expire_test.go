package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/expire"
	"github.com/pushagent/pushagent/internal/testenv"
)

// groupsOf returns the gateway's groups, each as its grouping key printed
// name="value",… (job included), sorted.
func groupsOf(t *testing.T, gw *testenv.Pushgateway) []string {
	t.Helper()
	var out []string
	for _, g := range gw.Groups(t) {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range g.Labels {
				if !yield(k) {
					return
				}
			}
		})
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%q", k, g.Labels[k])
		}
		out = append(out, strings.Join(parts, ","))
	}
	slices.Sort(out)
	return out
}

func newSweeper(t *testing.T, gw *testenv.Pushgateway, logs *testenv.Logs) (*expire.Sweeper, *prometheus.CounterVec) {
	t.Helper()
	expired := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pushagent_expired_groups_total", Help: "Groups of the job deleted from the gateway because no replica pushed to them for expire_after.",
	}, []string{"job"})
	s, err := expire.New(expire.Options{
		Gateway: config.Gateway{URL: gw.URL, Timeout: 5 * time.Second, BasicAuth: &config.BasicAuth{Username: gw.Username, Password: config.Secret(gw.Password)}},
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
		Expired: expired,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, expired
}

// pushGroup pushes one gauge to job with grouping, as a replica would.
func pushGroup(t *testing.T, gw *testenv.Pushgateway, job string, grouping map[string]string) {
	t.Helper()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "e2e_expire_up", Help: "A replica's sign of life."})
	g.Set(1)
	p := push.New(gw.URL, job).Collector(g).BasicAuth(gw.Username, gw.Password)
	for k, v := range grouping {
		p = p.Grouping(k, v)
	}
	if err := p.Push(); err != nil {
		t.Fatalf("push %s %v: %v", job, grouping, err)
	}
}

// pushRaw pushes to a URL path written by hand: the way to make a group
// whose label value has a space, which client_golang cannot address.
func pushRaw(t *testing.T, gw *testenv.Pushgateway, path string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, gw.URL+path, strings.NewReader("# HELP e2e_expire_up A replica's sign of life.\n# TYPE e2e_expire_up gauge\ne2e_expire_up 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(gw.Username, gw.Password)
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PUT %s: status %d", path, resp.StatusCode)
	}
}

// TestExpireStaleGroupAtRealGateway: two replicas of one job pushed; one
// stopped pushing. A sweep by the live one deletes the dead one's group
// and nothing else: not its own, not another job's, not a group it cannot
// address exactly.
func TestExpireStaleGroupAtRealGateway(t *testing.T) {
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{Username: "pusher", Password: password})
	const job = "e2e-expire"
	own := map[string]string{"instance": "replica-a"}

	// The dead replica's group, another job's group and a group with a
	// space in its instance, all as old as the dead replica's.
	pushGroup(t, gw, job, map[string]string{"instance": "replica-b"})
	pushGroup(t, gw, "e2e-other", map[string]string{"instance": "replica-b"})
	pushRaw(t, gw, "/metrics/job/"+job+"/instance/host%201")
	const maxAge = 2 * time.Second
	time.Sleep(maxAge + 500*time.Millisecond)
	// The live replicas: ours, and one whose instance is "host+1", the group
	// client_golang would hit when asked to delete "host 1".
	pushGroup(t, gw, job, own)
	pushGroup(t, gw, job, map[string]string{"instance": "host+1"})
	before := groupsOf(t, gw)
	want := []string{
		`instance="host 1",job="e2e-expire"`,
		`instance="host+1",job="e2e-expire"`,
		`instance="replica-a",job="e2e-expire"`,
		`instance="replica-b",job="e2e-expire"`,
		`instance="replica-b",job="e2e-other"`,
	}
	if !slices.Equal(before, want) {
		t.Fatalf("groups before the sweep:\n%s\nwant:\n%s", strings.Join(before, "\n"), strings.Join(want, "\n"))
	}

	var logs testenv.Logs
	s, expired := newSweeper(t, gw, &logs)
	ctx := context.Background()

	// A sweep whose clock is an hour ahead of the gateway's sees its own,
	// just pushed, group an hour old: it must not trust any age.
	n, err := s.Sweep(ctx, job, own, maxAge, time.Now().Add(time.Hour))
	if n != 0 || err == nil || !strings.Contains(err.Error(), "clocks disagree") {
		t.Errorf("sweep with a skewed clock: deleted %d, err %v; want 0 and a clock error", n, err)
	}
	if got := groupsOf(t, gw); !slices.Equal(got, want) {
		t.Fatalf("a sweep with a skewed clock changed the groups:\n%s", strings.Join(got, "\n"))
	}

	n, err = s.Sweep(ctx, job, own, maxAge, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("deleted %d groups, want 1", n)
	}
	want = slices.DeleteFunc(want, func(g string) bool { return g == `instance="replica-b",job="e2e-expire"` })
	if got := groupsOf(t, gw); !slices.Equal(got, want) {
		t.Errorf("groups after the sweep:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := testutil.ToFloat64(expired.WithLabelValues(job)); got != 1 {
		t.Errorf("pushagent_expired_groups_total{job=%q} = %v, want 1", job, got)
	}
	l := logs.String()
	for _, w := range []string{
		`msg="stale group deleted from the gateway" job=e2e-expire grouping="instance=\"replica-b\",job=\"e2e-expire\"" age=`,
		`msg="stale group not deleted: its grouping key cannot be sent to the gateway as-is" job=e2e-expire grouping="instance=\"host 1\",job=\"e2e-expire\""`,
	} {
		if !strings.Contains(l, w) {
			t.Errorf("log lacks %s\n%s", w, l)
		}
	}
	if strings.Contains(l, password) {
		t.Errorf("log shows the gateway password:\n%s", l)
	}
}

// TestExpireAfterKill9 runs two real agents as replicas of one job, kills
// one with SIGKILL (no delete_on_shutdown can run), and sweeps as the
// survivor would: the dead replica's group goes, the survivor's stays.
func TestExpireAfterKill9(t *testing.T) {
	agentBin := testenv.BuildGo(t, "pushagent", "./cmd/pushagent")
	textfile := testenv.BuildGoArgs(t, "textfile.wasm", "./plugins/textfile", []string{"-buildmode=c-shared"}, "GOOS=wasip1", "GOARCH=wasm")
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{Username: "pusher", Password: password})

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "textfile"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "textfile", "up.prom"), []byte("replica_up 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "schedules.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
gateway:
  url: %s
  basic_auth: {username: pusher, password_file: password}
jobs:
  - name: e2e-kill
    every: 1s
    grouping: {instance: "${E2E_INSTANCE}"}
    delete_on_shutdown: true
    expire_after: 1m
    collectors:
      - name: files
        plugin: %s
        mounts: {/textfile: textfile}
        config: {directory: /textfile}
`, gw.URL, textfile)), 0o644); err != nil {
		t.Fatal(err)
	}
	validate := exec.Command(agentBin, "validate", "--config", cfg)
	validate.Env = append(os.Environ(), "E2E_INSTANCE=validate")
	if out, err := validate.CombinedOutput(); err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}

	cache := filepath.Join(dir, "cache")
	a := startAgent(t, agentBin, []string{"E2E_INSTANCE=replica-a"}, "run", "--config", cfg, "--cache-dir", cache)
	b := startAgent(t, agentBin, []string{"E2E_INSTANCE=replica-b"}, "run", "--config", cfg, "--cache-dir", cache)
	both := []string{`instance="replica-a",job="e2e-kill"`, `instance="replica-b",job="e2e-kill"`}
	waitGroups(t, gw, both, 60*time.Second)

	if err := b.cmd.Process.Kill(); err != nil { // SIGKILL: no clean shutdown, no delete
		t.Fatal(err)
	}
	<-b.done
	b.done <- nil // for startAgent's cleanup

	// The real expire_after is 1m; the package takes any maxAge, so the test
	// need not wait a minute. 4s is well above a 1s push interval, so the
	// survivor's own group is never mistaken for a clock problem.
	const maxAge = 4 * time.Second
	time.Sleep(maxAge + time.Second)
	if got := groupsOf(t, gw); !slices.Equal(got, both) {
		t.Fatalf("after kill -9 the gateway still holds both groups, want %v, got %v", both, got)
	}
	var logs testenv.Logs
	s, _ := newSweeper(t, gw, &logs)
	n, err := s.Sweep(context.Background(), "e2e-kill", map[string]string{"instance": "replica-a"}, maxAge, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("sweep: deleted %d, err %v; want 1\n%s", n, err, logs.String())
	}
	// The survivor keeps pushing; the dead replica's group stays gone.
	time.Sleep(2 * time.Second)
	if got, want := groupsOf(t, gw), both[:1]; !slices.Equal(got, want) {
		t.Errorf("groups after the sweep = %v, want %v", got, want)
	}
	a.stop(t)
}

// waitGroups waits until the gateway holds exactly want.
func waitGroups(t *testing.T, gw *testenv.Pushgateway, want []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := groupsOf(t, gw)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway groups = %v, want %v", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
