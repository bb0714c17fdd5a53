package web

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushagent/pushagent/agent"
	"github.com/pushagent/pushagent/agent/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// get serves one request to h and returns the response and its body.
func get(t *testing.T, h http.Handler, method, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	resp := rec.Result()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestEndpointsOfAFailingAgent(t *testing.T) {
	t.Parallel()
	a, reg := failingAgent(t)
	strict := New(a, reg, Options{ReadyMaxFailing: time.Nanosecond, Version: "pushagent test"})
	lenient := New(a, reg, Options{}) // default: pushes may fail for 5m
	for _, tc := range []struct {
		name        string
		h           http.Handler
		method      string
		path        string
		code        int
		contentType string // prefix
		want        []string
		wantNot     []string
	}{
		{"liveness", strict, "GET", "/healthz", 200, "text/plain", []string{"ok\n"}, nil},
		{"liveness HEAD", strict, "HEAD", "/healthz", 200, "text/plain", nil, nil},
		{"metrics", strict, "GET", "/metrics", 200, "text/plain",
			[]string{`pushagent_job_runs_total{job="batch-worker"}`, `pushagent_push_failures_total{job="batch-worker",output="gateway",reason=`,
				`pushagent_collector_failures_total{collector="trapper",job="batch-worker",reason="trap"} `, "go_goroutines "}, nil},
		{"not ready once pushes fail past the bound", strict, "GET", "/readyz", 503, "text/plain",
			[]string{`job "batch-worker" output "gateway": pushes failing for `, "127.0.0.1:1"}, []string{gatewaySecret}},
		{"ready while pushes fail within the bound", lenient, "GET", "/readyz", 200, "text/plain", []string{"ok\n"}, nil},
		{"status page", strict, "GET", "/", 200, "text/html; charset=utf-8",
			[]string{"batch-worker", "1 job, 1 failing", "FAILING", "push failing", "1 of 2 collectors failed",
				"unreachable", "127.0.0.1:1", `instance="host-1"`, "every 1s", "pushagent test"},
			[]string{gatewaySecret}},
		{"unknown path", strict, "GET", "/status", 404, "text/plain", nil, nil},
		{"no writes", strict, "POST", "/", 405, "text/plain", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, tc.h, tc.method, tc.path)
			if resp.StatusCode != tc.code {
				t.Errorf("%s %s: status %d, want %d\n%s", tc.method, tc.path, resp.StatusCode, tc.code, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("%s %s: Content-Type %q, want %q…", tc.method, tc.path, ct, tc.contentType)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("%s %s: body lacks %q:\n%s", tc.method, tc.path, w, body)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(body, w) {
					t.Errorf("%s %s: body shows %q", tc.method, tc.path, w)
				}
			}
		})
	}
}

func TestReadyzListsOneReasonPerLine(t *testing.T) {
	t.Parallel()
	a, reg := failingAgent(t)
	resp, body := get(t, New(a, reg, Options{ReadyMaxFailing: time.Nanosecond}), "GET", "/readyz")
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if resp.StatusCode != 503 || len(lines) != 1 || !strings.HasPrefix(lines[0], `job "batch-worker" output "gateway": `) {
		t.Errorf("/readyz: status %d, lines %q; want 503 and one line for the failing job", resp.StatusCode, lines)
	}
}

func TestReadyzBeforeRun(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{
		Gateway: config.Gateway{URL: downGateway, Timeout: time.Second},
		Jobs: []config.Job{{Name: "j", Every: time.Minute, Method: "put",
			Collectors: []config.Collector{collector("hello", wat(t, "hello"), "1")}}},
	}
	a, err := agent.New(context.Background(), cfg, agent.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	h := New(a, prometheus.NewRegistry(), Options{})
	if resp, body := get(t, h, "GET", "/readyz"); resp.StatusCode != 503 || !strings.Contains(body, "not running") {
		t.Errorf("/readyz before Run: %d %q; want 503 saying the scheduler is not running", resp.StatusCode, body)
	}
	if resp, _ := get(t, h, "GET", "/healthz"); resp.StatusCode != 200 {
		t.Errorf("/healthz before Run: %d, want 200: the process is alive", resp.StatusCode)
	}
	resp, body := get(t, h, "GET", "/")
	if resp.StatusCode != 200 || !strings.Contains(body, "not run yet") || strings.Contains(body, "FAILING") {
		t.Errorf("status page before Run: %d; want 200 with the job not run yet and nothing failing:\n%s", resp.StatusCode, body)
	}
}

func TestStatusPageOfAHealthyAgent(t *testing.T) {
	t.Parallel()
	a, reg := runAgent(t, okGateway(t), collector("hello", wat(t, "hello"), "1"))
	resp, body := get(t, New(a, reg, Options{}), "GET", "/")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, w := range []string{"1 job, 0 failing", "batch-worker", "✓ OK", "1 sample ·", "0 dropped"} {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q:\n%s", w, body)
		}
	}
	for _, w := range []string{"FAILING", "FAILED", "Failing since", `class="error"`, gatewaySecret} {
		if strings.Contains(body, w) {
			t.Errorf("healthy page shows %q:\n%s", w, body)
		}
	}
	if resp, body := get(t, New(a, reg, Options{ReadyMaxFailing: time.Nanosecond}), "GET", "/readyz"); resp.StatusCode != 200 {
		t.Errorf("/readyz of a healthy agent: %d %q", resp.StatusCode, body)
	}
}

// fixtureNow is the instant the golden page is rendered at.
var fixtureNow = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

// fixture is one job of each kind the page distinguishes.
func fixture() agent.Snapshot {
	now := fixtureNow
	gw := "http://127.0.0.1:9091"
	return agent.Snapshot{Jobs: []agent.JobStatus{
		{
			Name: "node", Schedule: "every 15s ±2s", Method: "put",
			Grouping: map[string]string{"instance": "host-1"},
			NextRun:  now.Add(4 * time.Second), Runs: 42,
			RunStatus: agent.RunStatus{
				LastRun: now.Add(-11 * time.Second), LastDuration: 23456 * time.Microsecond,
				Outputs: []agent.PushStatus{
					{Output: "gw", Kind: "pushgateway", URL: gw, Pushed: true, OK: true, LastSuccessfulPush: now.Add(-11 * time.Second)},
					{Output: "tsdb", Kind: "remote_write", URL: "http://127.0.0.1:8428/api/v1/write", Pushed: true, OK: true, LastSuccessfulPush: now.Add(-11 * time.Second)},
				},
				Collectors: []agent.CollectorStatus{
					{Name: "procfs", Plugin: "plugins/procfs.wasm", Ran: true, Success: true, Duration: 1234567 * time.Nanosecond, Samples: 57},
					{Name: "files", Plugin: "plugins/textfile.wasm", Ran: true, Success: true, Duration: 812 * time.Microsecond, Samples: 1, Dropped: 2},
				},
			},
		},
		{
			Name: "faust-workers", Schedule: "*/5 * * * *", Method: "post",
			Grouping: map[string]string{"zone": "a", "instance": "host-1"},
			NextRun:  now.Add(150 * time.Second), Runs: 20, Skipped: 3,
			RunStatus: agent.RunStatus{
				LastRun: now.Add(-150 * time.Second), LastDuration: 10*time.Second + 7*time.Millisecond,
				Outputs: []agent.PushStatus{{
					Output: "gw", Kind: "pushgateway", URL: gw, Pushed: true,
					Error:              `push job "faust-workers": Put "http://127.0.0.1:9091/metrics/job/faust-workers/instance/host-1/zone/a": dial tcp 127.0.0.1:9091: connect: connection refused`,
					LastSuccessfulPush: now.Add(-65*time.Minute - 10*time.Second), FailingSince: now.Add(-65 * time.Minute),
				}},
				Collectors: []agent.CollectorStatus{
					{Name: "queue", Plugin: "http://127.0.0.1:8080/collect", Ran: true, Success: true, Duration: 45600 * time.Microsecond, Samples: 12},
					{Name: "trapper", Plugin: "plugins/misbehave.wasm", Ran: true, Duration: 3 * time.Millisecond,
						Error: `job "faust-workers" collector "trapper": plugins/misbehave.wasm: wasm error: unreachable` + "\nwasm stack trace:\n\t.$0()"},
				},
			},
		},
		{
			Name: "<script>alert('x')</script>", Schedule: "every 1m0s", Method: "put",
			Grouping: map[string]string{"instance": `"><img src=x onerror=alert(1)>`},
			NextRun:  now.Add(-time.Second), Runs: 3,
			RunStatus: agent.RunStatus{
				Running: true,
				LastRun: now.Add(-26 * time.Hour), LastDuration: 800 * time.Nanosecond,
				Outputs: []agent.PushStatus{{Output: "gw", Kind: "pushgateway", URL: gw, Pushed: true, OK: true, LastSuccessfulPush: now.Add(-26 * time.Hour)}},
				Collectors: []agent.CollectorStatus{
					{Name: "bad-output", Plugin: "plugins/x.wasm", Ran: true, Duration: 2 * time.Millisecond, Samples: 0, Dropped: 5,
						Error: `line 1: expected "}" got "<b>"`},
				},
			},
		},
		{
			Name: "new-job", Schedule: "every 1m0s", Method: "put",
			NextRun: now.Add(59 * time.Second),
			RunStatus: agent.RunStatus{
				Outputs:    []agent.PushStatus{{Output: "gw"}},
				Collectors: []agent.CollectorStatus{{Name: "hello", Plugin: "plugins/hello.wasm"}},
			},
		},
	},
		Outputs: []agent.OutputStatus{
			{Name: "gw", Kind: "pushgateway", URL: gw, SentSamples: 1200, FailedSamples: 12, LastError: "connection refused"},
			{Name: "tsdb", Kind: "remote_write", URL: "http://127.0.0.1:8428/api/v1/write", SentSamples: 5800, DroppedSamples: 40, BufferCorruptions: 2,
				BufferBytes: 3 << 20, Oldest: now.Add(-95 * time.Second), FailingSince: now.Add(-100 * time.Second), LastError: "remotewrite: output \"tsdb\": connection refused"},
		},
		Shard:      &config.Shard{Index: 1, Count: 3},
		Configured: 10,
		Reload: agent.ReloadStatus{Time: now.Add(-30 * time.Second), LastSuccess: now.Add(-2 * time.Hour),
			Problems: []string{"schedules.yaml:7: jobs[0].evry: unknown key (did you mean \"every\"?)", "schedules.yaml:9: jobs[1].name: <b>x</b>"}},
	}
}

// TestRenderGolden pins the page for a fixture of every kind of job.
// Run with -update to rewrite testdata/status.golden.html after a change,
// and look at the diff.
func TestRenderGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := render(&buf, fixture(), fixtureNow, "pushagent v1.2.3 (revision abc, go1.26)"); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "status.golden.html")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("the page differs from %s; if the change is intended, run go test ./agent/web -run TestRenderGolden -update and review the diff\ngot:\n%s", golden, buf.String())
	}
}

func TestRenderShowsWhatMatters(t *testing.T) {
	var buf bytes.Buffer
	if err := render(&buf, fixture(), fixtureNow, ""); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, w := range []string{
		"4 jobs, 2 failing",
		// relative times with the absolute one as a tooltip
		`title="2026-03-14 12:00:04 UTC">in 4s</time>`,
		`title="2026-03-14 11:59:49 UTC">11s ago</time>`,
		`>1h5m ago</time>`, `>1d2h ago</time>`, `>in 2m30s</time>`,
		"23.5ms", ">10s<", "1.23ms", "812µs", "800ns",
		`title="2026-03-14 11:59:59 UTC">due now</time>`,
		"42 runs, 0 skipped", "20 runs, 3 skipped",
		"push failing; 1 of 2 collectors failed",
		"Last push to tsdb", "remote_write http://127.0.0.1:8428/api/v1/write",
		"Push error (gw):", "5800 samples sent · 0 failed · 40 dropped · buffer 3.0 MiB, oldest sample 1m35s ago",
		"2 corrupt stretches of the buffer skipped: their data is lost",
		"shard 1 of 3: this agent runs 4 of the 10 configured jobs",
		"✗ FAILED", "running now", "not run yet",
		"57 samples · 0 dropped", "1 sample · 2 dropped",
		`<code>instance="host-1"</code>, <code>zone="a"</code>`,
		"wasm error: unreachable",
		`✗ Config reload FAILED <time datetime="2026-03-14T11:59:30Z" title="2026-03-14 11:59:30 UTC">30s ago</time>; the config loaded <time datetime="2026-03-14T10:00:00Z" title="2026-03-14 10:00:00 UTC">2h ago</time> keeps running`,
		"schedules.yaml:7: jobs[0].evry: unknown key (did you mean &#34;every&#34;?)\nschedules.yaml:9: jobs[1].name: &lt;b&gt;x&lt;/b&gt;",
		"&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;",
	} {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	for _, w := range []string{"<script", "<img", "<b>"} {
		if strings.Contains(page, w) {
			t.Errorf("page contains unescaped %q", w)
		}
	}
}

// TestRenderReload: the last load of the config, at start or by a
// reload, with what a reload changed, jobs and outputs.
func TestRenderReload(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    agent.ReloadStatus
		want string
	}{
		{"at start", agent.ReloadStatus{Time: fixtureNow.Add(-time.Hour), Initial: true, Success: true},
			`Config loaded at start <time datetime="2026-03-14T11:00:00Z" title="2026-03-14 11:00:00 UTC">1h ago</time></p>`},
		{"reloaded", agent.ReloadStatus{Time: fixtureNow.Add(-time.Minute), Success: true,
			Result: agent.ReloadResult{Added: []string{"a", "b"}, Removed: []string{"c"}, OutputsChanged: []string{"tsdb"}, OutputsRemoved: []string{"gw"}}},
			`1m ago</time>: jobs added: a, b; jobs removed: c; outputs changed: tsdb; outputs removed: gw</p>`},
		{"reloaded, nothing changed", agent.ReloadStatus{Time: fixtureNow.Add(-time.Minute), Success: true},
			`1m ago</time>: no job or output changed</p>`},
	} {
		var buf bytes.Buffer
		if err := render(&buf, agent.Snapshot{Reload: tc.r}, fixtureNow, ""); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), tc.want) {
			t.Errorf("%s: page lacks %q:\n%s", tc.name, tc.want, buf.String())
		}
		if strings.Contains(buf.String(), "FAILED") {
			t.Errorf("%s: page says FAILED", tc.name)
		}
	}
}

func TestRenderNoJobs(t *testing.T) {
	var buf bytes.Buffer
	if err := render(&buf, agent.Snapshot{}, fixtureNow, ""); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "0 jobs, 0 failing") || !strings.Contains(buf.String(), "No jobs configured.") {
		t.Errorf("empty page:\n%s", buf.String())
	}
}

func TestRelative(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "now"},
		{999 * time.Millisecond, "now"},
		{-999 * time.Millisecond, "just now"},
		{4 * time.Second, "in 4s"},
		{4900 * time.Millisecond, "in 4s"},
		{-12 * time.Second, "12s ago"},
		{-60 * time.Second, "1m ago"},
		{-200 * time.Second, "3m20s ago"},
		{2 * time.Hour, "in 2h"},
		{-(3*time.Hour + 5*time.Minute + 9*time.Second), "3h5m ago"},
		{-49 * time.Hour, "2d1h ago"},
	} {
		if got := relative(fixtureNow.Add(tc.d), fixtureNow); got != tc.want {
			t.Errorf("relative(now%+v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestAnchorsAreUniqueAndPlain(t *testing.T) {
	seen := map[string]int{}
	got := []string{anchor("My Job", seen), anchor("my-job", seen), anchor("<x>", seen)}
	want := []string{"job-my-job", "job-my-job-2", "job--x-"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("anchors = %q, want %q", got, want)
			break
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{800 * time.Nanosecond, "800ns"},
		{12345 * time.Nanosecond, "12.3µs"},
		{812345 * time.Nanosecond, "812µs"},
		{1234567 * time.Nanosecond, "1.23ms"},
		{23456 * time.Microsecond, "23.5ms"},
		{991123 * time.Microsecond, "991ms"},
		{1234567 * time.Microsecond, "1.23s"},
		{10*time.Second + 7*time.Millisecond, "10s"},
		{83 * time.Second, "1m23s"},
	} {
		if got := duration(tc.d); got != tc.want {
			t.Errorf("duration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
