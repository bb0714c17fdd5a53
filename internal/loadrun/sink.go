package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// sink stands in for the Pushgateway: it accepts every push under
// /metrics/job/..., discards the body and counts it. It also serves the
// small documents the scrape and httpjson plugins fetch, and stands in for
// a remote_write receiver at /api/v1/write (counted, not decoded).
type sink struct {
	srv  *http.Server
	addr string // host:port

	pushes  atomic.Int64
	deletes atomic.Int64
	bytes   atomic.Int64

	remoteWrites     atomic.Int64 // POSTs to /api/v1/write
	remoteWriteBytes atomic.Int64

	// decode, when set, makes the sink parse each push and keep per job the
	// series it held and the values of loadrun_* gauges. Off by default:
	// the throughput run pushes thousands of times a second.
	decode atomic.Bool

	mu        sync.Mutex
	watch     *pushWatch
	series    map[string]int     // job → series (samples) in its last push
	jobPushes map[string]int     // job → pushes decoded
	values    map[string]float64 // loadrun_* metric name → last value pushed
	bad       int                // pushes that did not decode
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
	s := &sink{addr: ln.Addr().String(), series: map[string]int{}, jobPushes: map[string]int{}, values: map[string]float64{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics/job/", s.push)
	mux.HandleFunc("/api/v1/write", s.remoteWrite)
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
		if s.decode.Load() {
			body, _ := io.ReadAll(r.Body)
			s.bytes.Add(int64(len(body)))
			s.noteSeries(r, body)
		} else {
			n, _ := io.Copy(io.Discard, r.Body)
			s.bytes.Add(n)
		}
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

// remoteWrite accepts a Prometheus remote_write request. It does not
// decode it (snappy-compressed protobuf); counting is enough to tell that
// the forwarder forwarded.
func (s *sink) remoteWrite(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	n, _ := io.Copy(io.Discard, r.Body)
	s.remoteWriteBytes.Add(n)
	s.remoteWrites.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// noteSeries decodes a push (text or delimited protobuf, as its
// Content-Type says) and records its series under the job in its path.
func (s *sink) noteSeries(r *http.Request, body []byte) {
	job, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/metrics/job/"), "/")
	dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.ResponseFormat(r.Header))
	n := 0
	values := map[string]float64{}
	for {
		var mf dto.MetricFamily
		err := dec.Decode(&mf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.mu.Lock()
			s.bad++
			s.mu.Unlock()
			return
		}
		vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, &mf)
		if err != nil {
			s.mu.Lock()
			s.bad++
			s.mu.Unlock()
			return
		}
		n += len(vec)
		if strings.HasPrefix(mf.GetName(), "loadrun_") && len(vec) == 1 {
			values[mf.GetName()] = float64(vec[0].Value)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.series[job] = n
	s.jobPushes[job]++
	for k, v := range values {
		s.values[k] = v
	}
}

// lastSeries is the series count of job's last decoded push, or -1.
func (s *sink) lastSeries(job string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.series[job]
	if !ok {
		return -1
	}
	return n
}

// undecoded is how many pushes did not decode since the last forget.
func (s *sink) undecoded() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bad
}

// pushesOf is how many pushes of job were decoded.
func (s *sink) pushesOf(job string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobPushes[job]
}

// lastValue is the last value pushed for the loadrun_* metric name.
func (s *sink) lastValue(name string) (float64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[name]
	return v, ok
}

// forget drops what decoding recorded, so that a run sees only its own
// pushes.
func (s *sink) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.series)
	clear(s.jobPushes)
	clear(s.values)
	s.bad = 0
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
