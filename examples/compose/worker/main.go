// Command faust-worker is the demo worker of examples/compose: a stand-in
// for a Faust stream processor. It makes up a stream of events and a queue
// that fills and drains, and exposes them on /metrics with client_golang —
// nothing else. It has no push code and no timer: pushing is the job of the
// pushagent next to it.
//
//	faust-worker -listen :6066
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var topics = []string{"orders", "payments"}

func main() {
	listen := flag.String("listen", envOr("FAUST_LISTEN", ":6066"), "address of /metrics (env FAUST_LISTEN)")
	tick := flag.Duration("tick", 250*time.Millisecond, "how often the simulated stream advances")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	// A registry of its own, not the default one: the sidecar forwards
	// exactly these series, not the Go runtime's.
	reg := prometheus.NewRegistry()
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "faust_events_total", Help: "Events processed, by topic.",
	}, []string{"topic"})
	depth := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "faust_queue_depth", Help: "Events waiting to be processed, by topic.",
	}, []string{"topic"})
	reg.MustRegister(events, depth)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go simulate(ctx, *tick, events, depth)

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	logger.Info("serving /metrics", "listen", *listen)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		logger.Error("serve", "err", err)
		os.Exit(1)
	}
	logger.Info("stopped")
}

// simulate advances the made-up stream: each tick some events arrive on
// each topic's queue and some are processed.
func simulate(ctx context.Context, tick time.Duration, events *prometheus.CounterVec, depth *prometheus.GaugeVec) {
	queued := make(map[string]int, len(topics))
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		for _, topic := range topics {
			queued[topic] += rand.IntN(12)
			done := min(queued[topic], rand.IntN(12))
			queued[topic] -= done
			events.WithLabelValues(topic).Add(float64(done))
			depth.WithLabelValues(topic).Set(float64(queued[topic]))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
