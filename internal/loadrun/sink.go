package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// sink stands in for the Pushgateway: it accepts every push under
// /metrics/job/..., discards the body and counts it. It also serves the
// small documents the scrape and httpjson plugins fetch.
type sink struct {
	srv  *http.Server
	addr string // host:port

	pushes  atomic.Int64
	deletes atomic.Int64
	bytes   atomic.Int64

	mu    sync.Mutex
	watch *pushWatch
}

// pushWatch records when the first n pushes after arm arrived.
type pushWatch struct {
	n     int
	times []time.Time
	done  chan struct{}
}

// scrapeBody is what the scrape plugin fetches: a small /metrics page.
const scrapeBody = `# HELP loadrun_worker_jobs_total Jobs the fake worker finished.
# TYPE loadrun_worker_jobs_total counter
loadrun_worker_jobs_total{queue="a"} 1027
loadrun_worker_jobs_total{queue="b"} 311
# HELP loadrun_worker_busy Whether the fake worker is busy.
# TYPE loadrun_worker_busy gauge
loadrun_worker_busy 1
# HELP loadrun_worker_queue_length Items waiting.
# TYPE loadrun_worker_queue_length gauge
loadrun_worker_queue_length{queue="a"} 4
loadrun_worker_queue_length{queue="b"} 0
`

// jsonBody is what the httpjson plugin fetches.
const jsonBody = `{"queue": {"depth": 7, "workers": 3}, "status": "up", "uptime_seconds": 12345.5}`

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sink: listen: %w", err)
	}
	s := &sink{addr: ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics/job/", s.push)
	mux.HandleFunc("/scrape/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, scrapeBody)
	})
	mux.HandleFunc("/doc.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, jsonBody)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("sink stopped: %v", err)
		}
	}()
	return s, nil
}

func (s *sink) url(path string) string { return "http://" + s.addr + path }

func (s *sink) push(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		now := time.Now()
		n, _ := io.Copy(io.Discard, r.Body)
		s.bytes.Add(n)
		s.pushes.Add(1)
		s.notePush(now)
	case http.MethodDelete:
		s.deletes.Add(1)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *sink) notePush(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pw := s.watch
	if pw == nil || len(pw.times) >= pw.n {
		return
	}
	pw.times = append(pw.times, t)
	if len(pw.times) == pw.n {
		close(pw.done)
	}
}

// arm starts recording the arrival times of the next n pushes.
func (s *sink) arm(n int) *pushWatch {
	pw := &pushWatch{n: n, done: make(chan struct{})}
	s.mu.Lock()
	s.watch = pw
	s.mu.Unlock()
	return pw
}

// wait returns the arrival times recorded so far once n pushes arrived or
// the timeout passed, whichever is first.
func (s *sink) wait(pw *pushWatch, timeout time.Duration) []time.Time {
	select {
	case <-pw.done:
	case <-time.After(timeout):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watch == pw {
		s.watch = nil
	}
	return append([]time.Time(nil), pw.times...)
}

func (s *sink) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}
