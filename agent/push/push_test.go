package push

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

func gaugeRegistry(name string, v float64) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "test"})
	g.Set(v)
	reg.MustRegister(g)
	return reg
}

func TestPushPutPostDeleteAgainstRealGateway(t *testing.T) {
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{Username: "u", Password: "pw-123"})
	c, err := New(config.Gateway{URL: gw.URL, Timeout: 5 * time.Second, BasicAuth: &config.BasicAuth{Username: "u", Password: "pw-123"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g := map[string]string{"instance": "a/b"} // a slash forces base64 encoding
	if err := c.Push(ctx, "j", g, "put", gaugeRegistry("first", 1)); err != nil {
		t.Fatal(err)
	}
	if err := c.Push(ctx, "j", g, "post", gaugeRegistry("second", 2)); err != nil {
		t.Fatal(err)
	}
	m := gw.Metrics(t)
	for _, want := range []string{`first{instance="a/b",job="j"} 1`, `second{instance="a/b",job="j"} 2`} {
		if !strings.Contains(m, want) {
			t.Errorf("post must add to the group; missing %s", want)
		}
	}
	if err := c.Push(ctx, "j", g, "put", gaugeRegistry("third", 3)); err != nil {
		t.Fatal(err)
	}
	m = gw.Metrics(t)
	if strings.Contains(m, "first{") || !strings.Contains(m, `third{instance="a/b",job="j"} 3`) {
		t.Errorf("put must replace the group:\n%s", m)
	}
	if err := c.Delete(ctx, "j", g); err != nil {
		t.Fatal(err)
	}
	if m := gw.Metrics(t); strings.Contains(m, "third{") {
		t.Errorf("delete left the group:\n%s", m)
	}
}

func TestWrongCredentialsAreNotRetriedAndNotPrinted(t *testing.T) {
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{Username: "u", Password: "right"})
	c, err := New(config.Gateway{URL: gw.URL, Timeout: 5 * time.Second, BasicAuth: &config.BasicAuth{Username: "u", Password: "wrong-secret-xyz"}})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Push(context.Background(), "j", nil, "put", gaugeRegistry("m", 1))
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("err = %v, want *push.Error", err)
	}
	if perr.Status != 401 || perr.Reason != "http_401" || perr.Attempts != 1 {
		t.Errorf("status %d reason %s attempts %d, want 401 http_401 1", perr.Status, perr.Reason, perr.Attempts)
	}
	msg := err.Error()
	if strings.Contains(msg, "wrong-secret-xyz") {
		t.Errorf("error shows the password: %s", msg)
	}
	for _, want := range []string{`job "j"`, gw.URL, "401", "basic_auth"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestRetriesServerErrorsThenSucceeds(t *testing.T) {
	// The real gateway does not fail on demand; this server does.
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	c, err := New(config.Gateway{URL: srv.URL, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.backoff = time.Millisecond
	if err := c.Push(context.Background(), "j", nil, "put", gaugeRegistry("m", 1)); err != nil {
		t.Fatalf("push after two 503s: %v", err)
	}
	if calls.Load() != 3 {
		t.Errorf("calls = %d, want 3", calls.Load())
	}
}

func TestHangingGatewayTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := New(config.Gateway{URL: srv.URL, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.backoff = time.Millisecond
	start := time.Now()
	err = c.Push(context.Background(), "j", nil, "put", gaugeRegistry("m", 1))
	var perr *Error
	if !errors.As(err, &perr) || perr.Reason != "timeout" || perr.Attempts != 3 {
		t.Fatalf("err = %v, want a timeout after 3 attempts", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v", took)
	}
}

func TestNewerRunSupersedesRetry(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer srv.Close()
	c, err := New(config.Gateway{URL: srv.URL, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.backoff = time.Hour // only the context can end the wait
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = c.Push(ctx, "j", nil, "put", gaugeRegistry("m", 1))
	var perr *Error
	if !errors.As(err, &perr) || perr.Status != http.StatusBadGateway || perr.Attempts != 1 {
		t.Fatalf("err = %v, want the 502 of the only attempt", err)
	}
}

func TestInconsistentMetricsAreReportedWithTheGatewayMessage(t *testing.T) {
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	c, err := New(config.Gateway{URL: gw.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Push(ctx, "j", map[string]string{"instance": "a"}, "put", gaugeRegistry("clash", 1)); err != nil {
		t.Fatal(err)
	}
	// Same name, other type, in another group: the gateway refuses it
	// because it would make its own /metrics inconsistent.
	reg := prometheus.NewRegistry()
	ctr := prometheus.NewCounter(prometheus.CounterOpts{Name: "clash", Help: "test"})
	reg.MustRegister(ctr)
	err = c.Push(ctx, "j", map[string]string{"instance": "b"}, "put", reg)
	var perr *Error
	if !errors.As(err, &perr) || perr.Status != http.StatusBadRequest {
		t.Fatalf("err = %v, want a 400", err)
	}
	if !strings.Contains(err.Error(), "clash") {
		t.Errorf("error does not say which metric: %v", err)
	}
}
