package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// A push at start and one per tick, each a PUT of the whole registry to
// the job's group; run returns when its context ends.
func TestRunPushesAtStartAndEachTick(t *testing.T) {
	type pushed struct {
		method, path string
		families     map[string]*dto.MetricFamily
	}
	got := make(chan pushed, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
		fams := map[string]*dto.MetricFamily{}
		for {
			var mf dto.MetricFamily
			if err := dec.Decode(&mf); err != nil {
				if err != io.EOF {
					t.Errorf("decoding the push: %v", err)
				}
				break
			}
			fams[mf.GetName()] = &mf
		}
		got <- pushed{r.Method, r.URL.Path, fams}
	}))
	defer srv.Close()

	reg, last := newRegistry()
	ticks := make(chan time.Time)
	clock := time.Unix(1700000000, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx, slog.New(slog.DiscardHandler), push.New(srv.URL, "side").Gatherer(reg), last, ticks, func() time.Time { return clock }, 5*time.Second)
	}()

	for i := range 2 {
		p := <-got
		if p.method != http.MethodPut || p.path != "/metrics/job/side" {
			t.Errorf("push %d: %s %s, want PUT /metrics/job/side", i, p.method, p.path)
		}
		for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "barepush_last_push_timestamp_seconds"} {
			if p.families[name] == nil {
				t.Errorf("push %d: no %s", i, name)
			}
		}
		if f := p.families["barepush_last_push_timestamp_seconds"]; f != nil {
			if v := f.GetMetric()[0].GetGauge().GetValue(); v != 1700000000 {
				t.Errorf("push %d: barepush_last_push_timestamp_seconds = %v, want 1700000000", i, v)
			}
		}
		if i == 0 {
			ticks <- clock
		}
	}
	cancel()
	<-done
	select {
	case p := <-got:
		t.Errorf("unexpected push after the context ended: %s %s", p.method, p.path)
	default:
	}
}
