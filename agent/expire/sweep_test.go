package expire

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pushagent/pushagent/agent/config"
)

// fakeGateway answers /api/v1/metrics with groups and records DELETEs. It
// checks credentials like the real gateway with basic auth on.
type fakeGateway struct {
	t        *testing.T
	groups   []map[string]any
	listCode int // 0: 200

	mu      sync.Mutex
	deletes []string // escaped paths
	auths   []string // Authorization header of every request
}

func (f *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.auths = append(f.auths, r.Header.Get("Authorization"))
	f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/api/v1/metrics"):
		if f.listCode != 0 {
			http.Error(w, "Unauthorized", f.listCode)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": f.groups})
	case r.Method == http.MethodDelete:
		f.mu.Lock()
		f.deletes = append(f.deletes, r.URL.EscapedPath())
		f.mu.Unlock()
		if strings.Contains(r.URL.Path, "/fail") {
			http.Error(w, "nope", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

// wireGroupAt builds a group as the gateway 1.5.1 writes it.
func wireGroupAt(last time.Time, labels map[string]string) map[string]any {
	fam := func(v string) map[string]any {
		return map[string]any{"type": "GAUGE", "metrics": []any{map[string]any{"labels": labels, "value": v}}}
	}
	return map[string]any{
		"labels":                    labels,
		"last_push_successful":      true,
		"push_time_seconds":         fam(fmt.Sprintf("%v", float64(last.UnixNano())/1e9)),
		"push_failure_time_seconds": fam("0"),
	}
}

func newTestSweeper(t *testing.T, url string, gw config.Gateway, logs *bytes.Buffer) (*Sweeper, *prometheus.CounterVec) {
	t.Helper()
	gw.URL = url
	expired := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pushagent_expired_groups_total", Help: "x"}, []string{"job"})
	s, err := New(Options{
		Gateway: gw,
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
		Expired: expired,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, expired
}

func TestSweepDeletesStaleGroupsOfTheJobOnly(t *testing.T) {
	now := time.Now()
	old := now.Add(-time.Hour)
	fg := &fakeGateway{t: t, groups: []map[string]any{
		wireGroupAt(now, map[string]string{"job": "batch", "instance": "a"}),      // own
		wireGroupAt(old, map[string]string{"job": "batch", "instance": "b"}),      // stale
		wireGroupAt(old, map[string]string{"job": "batch", "instance": "x/y"}),    // stale, base64 in the URL
		wireGroupAt(old, map[string]string{"job": "batch", "instance": ""}),       // stale, empty value
		wireGroupAt(old, map[string]string{"job": "batch", "instance": "a b"}),    // stale, but client_golang cannot address it
		wireGroupAt(now, map[string]string{"job": "batch", "instance": "c"}),      // fresh
		wireGroupAt(old, map[string]string{"job": "other", "instance": "b"}),      // another job
		wireGroupAt(old, map[string]string{"job": "batch x", "instance": "b"}),    // another job
		wireGroupAt(old, map[string]string{"job": "batch", "instance": "ü&?%#+"}), // stale, escaped
	}}
	srv := httptest.NewServer(fg)
	defer srv.Close()
	var logs bytes.Buffer
	gw := config.Gateway{BasicAuth: &config.BasicAuth{Username: "u", Password: "pw-secret"}, Timeout: 5 * time.Second}
	s, expired := newTestSweeper(t, srv.URL+"/pgw/", gw, &logs) // behind a path prefix

	n, err := s.Sweep(context.Background(), "batch", map[string]string{"instance": "a"}, 10*time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("deleted %d, want 4", n)
	}
	slices.Sort(fg.deletes)
	want := []string{
		"/pgw/metrics/job/batch/instance/%C3%BC%26%3F%25%23%2B", // client_golang's url.QueryEscape
		"/pgw/metrics/job/batch/instance/b",
		"/pgw/metrics/job/batch/instance@base64/=",
		"/pgw/metrics/job/batch/instance@base64/eC95",
	}
	if !slices.Equal(fg.deletes, want) {
		t.Errorf("DELETEs:\n%s\nwant:\n%s", strings.Join(fg.deletes, "\n"), strings.Join(want, "\n"))
	}
	if got := testutil.ToFloat64(expired.WithLabelValues("batch")); got != 4 {
		t.Errorf("pushagent_expired_groups_total{job=batch} = %v, want 4", got)
	}
	for _, a := range fg.auths {
		if !strings.HasPrefix(a, "Basic ") {
			t.Errorf("a request without basic auth: %q", a)
		}
	}
	l := logs.String()
	for _, want := range []string{
		`msg="stale group deleted from the gateway" job=batch grouping="instance=\"b\",job=\"batch\"" age=1h0m0s expire_after=10m0s`,
		`level=WARN msg="stale group not deleted: its grouping key cannot be sent to the gateway as-is" job=batch grouping="instance=\"a b\",job=\"batch\""`,
		`client_golang would delete {instance=\"a+b\",job=\"batch\"} instead`,
	} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %s\n%s", want, l)
		}
	}
	if strings.Contains(l, "pw-secret") {
		t.Errorf("log shows the password:\n%s", l)
	}
}

func TestSweepBearerToken(t *testing.T) {
	fg := &fakeGateway{t: t, groups: []map[string]any{
		wireGroupAt(time.Now().Add(-time.Hour), map[string]string{"job": "j", "instance": "b"}),
	}}
	srv := httptest.NewServer(fg)
	defer srv.Close()
	s, _ := newTestSweeper(t, srv.URL, config.Gateway{BearerToken: "tok"}, &bytes.Buffer{})
	if _, err := s.Sweep(context.Background(), "j", nil, time.Minute, time.Now()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"Bearer tok", "Bearer tok"}; !slices.Equal(fg.auths, want) {
		t.Errorf("Authorization headers %q, want %q", fg.auths, want)
	}
}

func TestSweepErrors(t *testing.T) {
	now := time.Now()
	old := now.Add(-time.Hour)

	t.Run("list refused", func(t *testing.T) {
		srv := httptest.NewServer(&fakeGateway{t: t, listCode: http.StatusUnauthorized})
		defer srv.Close()
		s, _ := newTestSweeper(t, srv.URL, config.Gateway{BasicAuth: &config.BasicAuth{Username: "u", Password: "pw-secret"}}, &bytes.Buffer{})
		_, err := s.Sweep(context.Background(), "j", nil, time.Minute, now)
		want := fmt.Sprintf(`expire: job "j": list groups at %s: status 401: Unauthorized (check gateway.basic_auth / bearer_token)`, srv.URL)
		if err == nil || err.Error() != want {
			t.Errorf("err = %v\nwant %s", err, want)
		}
	})

	t.Run("one delete fails, the others are still done", func(t *testing.T) {
		fg := &fakeGateway{t: t, groups: []map[string]any{
			wireGroupAt(old, map[string]string{"job": "j", "instance": "fail"}),
			wireGroupAt(old, map[string]string{"job": "j", "instance": "ok"}),
		}}
		srv := httptest.NewServer(fg)
		defer srv.Close()
		s, expired := newTestSweeper(t, srv.URL, config.Gateway{}, &bytes.Buffer{})
		n, err := s.Sweep(context.Background(), "j", map[string]string{"instance": "a"}, time.Minute, now)
		if n != 1 || err == nil || !strings.Contains(err.Error(), `expire: job "j": delete group {instance="fail",job="j"} at `+srv.URL+`: unexpected status code 500`) {
			t.Errorf("n = %d, err = %v", n, err)
		}
		if got := testutil.ToFloat64(expired.WithLabelValues("j")); got != 1 {
			t.Errorf("counted %v deletions, want 1", got)
		}
	})

	t.Run("clocks disagree", func(t *testing.T) {
		fg := &fakeGateway{t: t, groups: []map[string]any{
			wireGroupAt(now, map[string]string{"job": "j", "instance": "a"}),
			wireGroupAt(old, map[string]string{"job": "j", "instance": "b"}),
		}}
		srv := httptest.NewServer(fg)
		defer srv.Close()
		s, _ := newTestSweeper(t, srv.URL, config.Gateway{}, &bytes.Buffer{})
		n, err := s.Sweep(context.Background(), "j", map[string]string{"instance": "a"}, 10*time.Minute, now.Add(time.Hour))
		if n != 0 || err == nil || !strings.Contains(err.Error(), "was last pushed 1h0m0s before now") || len(fg.deletes) != 0 {
			t.Errorf("n = %d, err = %v, deletes %q", n, err, fg.deletes)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		srv := httptest.NewServer(&fakeGateway{t: t})
		defer srv.Close()
		s, _ := newTestSweeper(t, srv.URL, config.Gateway{}, &bytes.Buffer{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Sweep(ctx, "j", nil, time.Minute, now); err == nil || !strings.Contains(err.Error(), "context canceled") {
			t.Errorf("err = %v, want context canceled", err)
		}
	})

	t.Run("gateway down", func(t *testing.T) {
		srv := httptest.NewServer(&fakeGateway{t: t})
		srv.Close()
		s, _ := newTestSweeper(t, srv.URL, config.Gateway{}, &bytes.Buffer{})
		if _, err := s.Sweep(context.Background(), "j", nil, time.Minute, now); err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("err = %v, want connection refused", err)
		}
	})
}

func TestDue(t *testing.T) {
	srv := httptest.NewServer(&fakeGateway{t: t})
	defer srv.Close()
	s, _ := newTestSweeper(t, srv.URL, config.Gateway{}, &bytes.Buffer{})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const maxAge = 8 * time.Minute
	if !s.Due("j", maxAge, t0) {
		t.Fatal("a job never swept is due")
	}
	if _, err := s.Sweep(context.Background(), "j", nil, maxAge, t0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Time
		want bool
	}{
		{t0.Add(time.Minute), false},
		{t0.Add(2 * time.Minute), true}, // maxAge/4
		{t0.Add(-time.Minute), true},    // the clock went back: do not wait for it
	} {
		if got := s.Due("j", maxAge, c.at); got != c.want {
			t.Errorf("Due at t0%+v = %v, want %v", c.at.Sub(t0), got, c.want)
		}
	}
	if !s.Due("k", maxAge, t0) {
		t.Error("jobs are throttled separately")
	}
}

// FuzzDeleteURL checks the guard on DELETE URLs against client_golang's
// URL building: a grouping key is either sent as exactly itself, read the
// way the gateway reads a path, or refused, and only a value with a space
// (and no slash) is refused.
func FuzzDeleteURL(f *testing.F) {
	for _, v := range []string{"a", "a b", "a+b", "", "x/y", "a b/c", "ü", "%2F", "@base64", "=", "a\x00b"} {
		f.Add("batch", v)
	}
	f.Add("my job", "a")
	f.Add("j/k", "a b")
	f.Fuzz(func(t *testing.T, job, value string) {
		if job == "" {
			return
		}
		want := map[string]string{"job": job, "instance": value}
		var sent bool
		s := &Sweeper{prefix: "/p/metrics/", client: doerFunc(func(*http.Request) (*http.Response, error) {
			sent = true
			return &http.Response{StatusCode: http.StatusAccepted, Body: http.NoBody}, nil
		})}
		err := push.New("http://127.0.0.1:1/p", job).Grouping("instance", value).
			Client(&checkedDoer{s: s, ctx: context.Background(), want: want}).Delete()
		unsafe := func(s string) bool { return strings.Contains(s, " ") && !strings.Contains(s, "/") }
		switch {
		case err == nil && !sent:
			t.Fatal("no error, but nothing sent")
		case err != nil && sent:
			t.Fatalf("sent, but %v", err)
		case err != nil && !unsafe(job) && !unsafe(value) && strings.ToValidUTF8(job+value, "") == job+value:
			t.Fatalf("refused %q %q: %v", job, value, err)
		case err == nil && (unsafe(job) || unsafe(value)):
			t.Fatalf("sent %q %q, which client_golang cannot address", job, value)
		}
	})
}

type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }
