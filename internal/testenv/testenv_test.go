package testenv_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestPushgatewayToPrometheus is the path every end-to-end test relies
// on: a push to an authenticated gateway shows up in Prometheus with the
// pushed job and instance labels, not the scrape's.
func TestPushgatewayToPrometheus(t *testing.T) {
	t.Parallel()
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{Username: "pusher", Password: "s3cret"})

	body := "# TYPE pushagent_testenv_probe gauge\npushagent_testenv_probe{kind=\"probe\"} 42\n"
	if status := push(t, gw.URL+"/metrics/job/testenv_probe/instance/probe-1", "pusher", "s3cret", body); status/100 != 2 {
		t.Fatalf("push with the right password: status %d, want 2xx", status)
	}
	if m := gw.Metrics(t); !strings.Contains(m, `pushagent_testenv_probe{instance="probe-1",job="testenv_probe",kind="probe"} 42`) {
		t.Errorf("gateway /metrics lacks the pushed sample:\n%s", m)
	}
	groups := gw.Groups(t)
	if len(groups) != 1 {
		t.Fatalf("gateway holds %d groups, want 1: %+v", len(groups), groups)
	}
	if g := groups[0]; g.Labels["job"] != "testenv_probe" || g.Labels["instance"] != "probe-1" ||
		!g.LastPushSuccessful || !slices.Contains(g.MetricNames, "pushagent_testenv_probe") {
		t.Errorf("group = labels %v, last push successful %v, metrics %v; want job testenv_probe, instance probe-1, successful, with pushagent_testenv_probe",
			g.Labels, g.LastPushSuccessful, g.MetricNames)
	}

	prom := testenv.StartPrometheus(t, testenv.PrometheusOptions{
		Targets:  []string{gw.Addr},
		Username: gw.Username,
		Password: gw.Password,
	})
	samples := prom.WaitFor(t, `pushagent_testenv_probe{job="testenv_probe"}`, 30*time.Second, func(s []testenv.Sample) bool {
		return len(s) == 1
	})
	got := samples[0]
	if got.Value != 42 || got.Labels["instance"] != "probe-1" || got.Labels["kind"] != "probe" {
		t.Errorf("Prometheus has %s, want value 42 with instance probe-1 and kind probe", got)
	}
	if _, ok := got.Labels["exported_job"]; ok {
		t.Errorf("Prometheus has %s: exported_job means honor_labels is off", got)
	}
	// The gateway's own series are scraped under the scrape job.
	prom.WaitFor(t, `up{job="pushgateway"} == 1`, 10*time.Second, nil)
}

func TestPushgatewayRejectsWrongCredentials(t *testing.T) {
	t.Parallel()
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{Username: "pusher", Password: "s3cret"})
	body := "pushagent_testenv_probe 1\n"
	for _, tc := range []struct {
		name, user, pass string
	}{
		{"wrong password", "pusher", "wrong"},
		{"wrong user", "someone", "s3cret"},
		{"no credentials", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status := push(t, gw.URL+"/metrics/job/intruder", tc.user, tc.pass, body); status != http.StatusUnauthorized {
				t.Errorf("push: status %d, want 401", status)
			}
			req, _ := http.NewRequest(http.MethodGet, gw.URL+"/metrics", nil)
			if tc.user != "" || tc.pass != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			if status := do(t, req); status != http.StatusUnauthorized {
				t.Errorf("GET /metrics: status %d, want 401", status)
			}
		})
	}
	if groups := gw.Groups(t); len(groups) != 0 {
		t.Errorf("rejected pushes left groups behind: %+v", groups)
	}
}

func TestPushgatewayWithoutAuth(t *testing.T) {
	t.Parallel()
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	if status := push(t, gw.URL+"/metrics/job/open", "", "", "pushagent_testenv_probe 7\n"); status/100 != 2 {
		t.Fatalf("push: status %d, want 2xx", status)
	}
	if m := gw.Metrics(t); !strings.Contains(m, `pushagent_testenv_probe{instance="",job="open"} 7`) {
		t.Errorf("gateway /metrics lacks the pushed sample:\n%s", m)
	}
}

func TestBuildGo(t *testing.T) {
	t.Parallel()
	first := testenv.BuildGo(t, "hello.wasm", "./internal/testenv/testdata/hello", "GOOS=wasip1", "GOARCH=wasm")
	st, err := os.Stat(first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x00asm")) {
		t.Errorf("%s is not a WebAssembly module: starts with %q", first, b[:min(8, len(b))])
	}
	second := testenv.BuildGo(t, "hello.wasm", "./internal/testenv/testdata/hello", "GOOS=wasip1", "GOARCH=wasm")
	st2, err := os.Stat(second)
	if err != nil {
		t.Fatal(err)
	}
	if second != first || !st2.ModTime().Equal(st.ModTime()) {
		t.Errorf("second BuildGo rebuilt: %s (%v) then %s (%v)", first, st.ModTime(), second, st2.ModTime())
	}
}

// fakeTB records what RequireBinary does instead of ending the real test.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestRequireBinary(t *testing.T) {
	if got := testenv.RequireBinary(t, "/nonexistent/pushgateway", "sh"); !strings.HasSuffix(got, "/sh") {
		t.Errorf("RequireBinary(missing, sh) = %q, want the path of sh", got)
	}
	for _, tc := range []struct {
		ci        string
		wantFatal bool
	}{
		{ci: "true", wantFatal: true},
		{ci: "", wantFatal: false},
		{ci: "false", wantFatal: false},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			f := &fakeTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				testenv.RequireBinary(f, "prometheus-pushgateway-does-not-exist", "/nonexistent/wat2wasm")
				t.Error("RequireBinary returned for a missing binary")
			}()
			<-done
			msg := f.skip
			if tc.wantFatal {
				msg = f.fatal
			}
			if msg == "" {
				t.Fatalf("CI=%q: fatal %q, skip %q; want a %s", tc.ci, f.fatal, f.skip, map[bool]string{true: "fatal", false: "skip"}[tc.wantFatal])
			}
			for _, want := range []string{"wabt", "scripts/setup-debian.sh"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not mention %q", msg, want)
				}
			}
		})
	}
}

func push(t *testing.T, url, user, pass, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain; version=0.0.4")
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
