// Command barepush is the baseline internal/loadrun's sidecar scenario
// compares the agent with: what users hand-roll today to get a process's
// metrics into a Pushgateway. A client_golang registry with the Go and
// process collectors and one gauge, pushed (PUT) with
// prometheus/client_golang/prometheus/push on an interval. It stays as
// plain as such code usually is: no retries, no jitter, no config file;
// a failed push is logged and the next interval tries again. It must never
// grow features the agent would be compared against unfairly: it is the
// baseline, not a competitor.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/push"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:9091", "Pushgateway URL")
	every := flag.Duration("every", 10*time.Second, "push interval")
	job := flag.String("job", "barepush", "job label of the pushed group")
	flag.Parse()
	if flag.NArg() > 0 || *every <= 0 || *url == "" || *job == "" {
		fmt.Fprintln(os.Stderr, "barepush: usage: barepush [-url URL] [-every DURATION > 0] [-job NAME]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	reg, last := newRegistry()
	ticker := time.NewTicker(*every)
	defer ticker.Stop()
	// Each push may take at most one interval, so pushes never pile up.
	p := push.New(*url, *job).Gatherer(reg)
	run(ctx, logger, p, last, ticker.C, time.Now, *every)
}

// newRegistry is the registry users build: the Go runtime's and the
// process's metrics, plus one gauge of their own.
func newRegistry() (*prometheus.Registry, prometheus.Gauge) {
	reg := prometheus.NewRegistry()
	last := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "barepush_last_push_timestamp_seconds",
		Help: "When barepush last started a push, in seconds since the epoch.",
	})
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		last,
	)
	return reg, last
}

// run pushes at once and then at every tick until ctx ends. now is the
// clock the gauge is set from.
func run(ctx context.Context, logger *slog.Logger, p *push.Pusher, last prometheus.Gauge, ticks <-chan time.Time, now func() time.Time, timeout time.Duration) {
	for {
		last.Set(float64(now().UnixNano()) / 1e9)
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := p.PushContext(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			logger.Warn("push failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
	}
}
