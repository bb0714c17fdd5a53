// Package remotewrite sends a job's runs to a Prometheus remote-write
// receiver (remote write 1.0: snappy-compressed protobuf, Prometheus' own
// prompb types), through a disk buffer, so that what is collected while
// the receiver is down is delivered, in order, once it is back, even
// across a restart or a kill -9 of the agent.
//
// The buffer is Prometheus' write-ahead log (tsdb/wlog, the one its agent
// mode and Grafana Alloy keep samples in): checksummed records in
// segments. One record is one run's request, encoded once. A position file
// says up to where the receiver accepted them. The buffer is bounded by
// max_size: past it the oldest segments are dropped and their samples
// counted.
//
// This package must never block a run on the receiver: Append only
// writes to disk; one goroutine per output sends.
package remotewrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/series"
)

// Options configure a Queue.
type Options struct {
	// Name is the output's name in the config, for messages.
	Name   string
	Config config.RemoteWrite
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between retries: doubled
	// per failure from the first to the second. Defaults 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// OnSend, when set, is called after each request with its latency and
	// its error (nil when the receiver accepted it).
	OnSend func(took time.Duration, err error)
}

// Stats are a queue's counts and state, for metrics and the status page.
type Stats struct {
	SentSamples, FailedSamples, DroppedSamples uint64
	// Corrupt counts the corrupt stretches of the buffer skipped.
	Corrupt      uint64
	BufferBytes  int64
	Oldest       time.Time // collection time of the oldest sample not yet delivered; zero when none
	LastError    string    // of the last failed request; "" once one succeeds
	FailingSince time.Time // first failure of the current streak; zero when the last request succeeded
	LastSuccess  time.Time
}

// Queue buffers requests on disk and sends them in order. It is safe for
// concurrent use.
type Queue struct {
	opts    Options
	url     string
	client  *http.Client
	timeout time.Duration
	log     *slog.Logger

	mu    sync.Mutex
	buf   *buffer
	stats Stats
	since bool // whether a record is waiting (stats.Oldest is meaningful)
	idle  bool // the sender found nothing to send since the last Append
	// idleCh is closed when idle becomes true, for Wait.
	idleCh chan struct{}

	closeOnce sync.Once
	closeErr  error
	closed    bool // under mu

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// Open opens (or creates) the buffer and starts sending what it holds.
func Open(opts Options) (*Queue, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	cfg := opts.Config
	if _, err := url.Parse(cfg.URL); err != nil {
		return nil, fmt.Errorf("output %q: remote_write.url: %w", opts.Name, err)
	}
	transport, err := cfg.TLS.Transport()
	if err != nil {
		return nil, fmt.Errorf("output %q: remote_write.tls: %w", opts.Name, err)
	}
	log := opts.Logger.With("output", opts.Name)
	maxSize := cfg.Buffer.MaxSize
	if maxSize <= 0 {
		maxSize = 256 << 20
	}
	buf, err := openBuffer(cfg.Buffer.Dir, maxSize, log)
	if err != nil {
		return nil, fmt.Errorf("output %q: remote_write.buffer: %w; check that the directory is writable by the agent", opts.Name, err)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		opts: opts, url: cfg.URL, client: &http.Client{Transport: transport}, timeout: timeout, log: log,
		buf: buf, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{}),
		idleCh: make(chan struct{}),
	}
	go q.run()
	return q, nil
}

// URL is the receiver's URL (config rejects credentials in it).
func (q *Queue) URL() string { return q.url }

// Append buffers one run's series. It returns once they are in the
// buffer's file, before they are sent.
func (q *Queue) Append(series []prompb.TimeSeries) error {
	if len(series) == 0 {
		return nil
	}
	body, samples, oldest, err := Encode(series)
	if err != nil {
		return fmt.Errorf("output %q: encoding the request: %w", q.opts.Name, err)
	}
	return q.AppendBody(body, samples, oldest)
}

// AppendBatch buffers one run's batch (see EncodeBatch).
func (q *Queue) AppendBatch(b *series.Batch, job string, grouping map[string]string, at time.Time) error {
	if b.Len() == 0 {
		return nil
	}
	return q.AppendBody(EncodeBatch(b, job, grouping, at))
}

// AppendBody buffers an encoded request of samples samples, the oldest at
// oldest (milliseconds).
func (q *Queue) AppendBody(body []byte, samples int, oldest int64) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return fmt.Errorf("remotewrite: output %q is closed (the config was reloaded)", q.opts.Name)
	}
	if q.idle {
		q.idle, q.idleCh = false, make(chan struct{})
	}
	err := q.buf.append(record{samples: samples, oldest: oldest, body: body})
	if err == nil {
		var dropped int
		dropped, err = q.buf.trim()
		if dropped > 0 {
			q.stats.DroppedSamples += uint64(dropped)
			q.log.Warn("remote_write buffer full: oldest data dropped", "samples", dropped, "max_size", q.buf.maxSize)
		}
	}
	q.mu.Unlock()
	if err != nil {
		return fmt.Errorf("output %q: writing the buffer in %s: %w; check the disk and the directory's permissions", q.opts.Name, q.buf.dir, err)
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// Stats snapshots the queue's counts and state.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.stats
	s.BufferBytes = q.buf.bytes()
	if !q.since {
		s.Oldest = time.Time{}
	}
	return s
}

// Wait returns once everything appended so far was delivered (or
// refused), or with an error naming the last failure when ctx ends first.
func (q *Queue) Wait(ctx context.Context) error {
	q.mu.Lock()
	ch := q.idleCh
	q.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		last := q.stats.LastError
		q.mu.Unlock()
		if last == "" {
			last = ctx.Err().Error()
		}
		return fmt.Errorf("remotewrite: output %q: not delivered yet (kept in the buffer for the next start): %s", q.opts.Name, last)
	}
}

// Close stops sending (a request in flight is abandoned and sent again on
// the next start) and closes the buffer.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() {
		q.cancel()
		<-q.done
		q.mu.Lock()
		defer q.mu.Unlock()
		q.closeErr = q.buf.close()
		q.closed = true
	})
	return q.closeErr
}

func (q *Queue) run() {
	defer close(q.done)
	for {
		q.mu.Lock()
		r, end, ok, err := q.buf.next()
		from := q.buf.pos
		q.since = ok
		if !ok && err == nil && !q.idle {
			q.idle = true
			close(q.idleCh)
		}
		if ok {
			q.stats.Oldest = time.UnixMilli(r.oldest)
		}
		corrupt := errors.As(err, new(*CorruptError))
		if corrupt {
			q.stats.Corrupt++
		}
		q.mu.Unlock()
		if err != nil {
			// Corrupt data was skipped already; anything else (the disk)
			// is retried after a pause.
			if !corrupt {
				q.log.Error("reading the remote_write buffer", "err", err)
				if !q.sleep(q.opts.MinBackoff) {
					return
				}
			}
			continue
		}
		if !ok {
			select {
			case <-q.wake:
			case <-q.ctx.Done():
				return
			}
			continue
		}
		if !q.send(r) {
			return // closed
		}
		q.mu.Lock()
		if q.buf.pos == from { // else trim dropped past it meanwhile
			q.buf.pos = end
		}
		if err := q.buf.savePosition(); err != nil {
			q.log.Error("saving the remote_write buffer position (a restart sends some data again)", "err", err)
		}
		if _, err := q.buf.trim(); err != nil {
			q.log.Error("removing delivered remote_write buffer segments", "err", err)
		}
		q.mu.Unlock()
	}
}

func (q *Queue) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-q.ctx.Done():
		return false
	}
}

// send delivers one record, retrying network errors, 5xx and 429 for as
// long as it takes (the buffer holds what arrives meanwhile). A 4xx other
// than 429 means the receiver will never take it: it is dropped, counted
// as failed. It returns false when the queue was closed first.
func (q *Queue) send(r record) bool {
	wait := q.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := q.post(r.body)
		took := time.Since(start)
		if q.ctx.Err() != nil {
			return false
		}
		if q.opts.OnSend != nil {
			q.opts.OnSend(took, err)
		}
		q.mu.Lock()
		if err == nil {
			q.stats.SentSamples += uint64(r.samples)
			q.stats.LastError, q.stats.FailingSince, q.stats.LastSuccess = "", time.Time{}, time.Now()
			q.mu.Unlock()
			return true
		}
		q.stats.LastError = err.Error()
		if q.stats.FailingSince.IsZero() {
			q.stats.FailingSince = time.Now()
		}
		se := (*SendError)(nil)
		permanent := errors.As(err, &se) && !se.retryable()
		if permanent {
			q.stats.FailedSamples += uint64(r.samples)
		}
		q.mu.Unlock()
		if permanent {
			q.log.Error("remote_write request refused; its samples are dropped", "samples", r.samples, "err", err)
			return true
		}
		if attempt == 1 || attempt%10 == 0 {
			q.log.Warn("remote_write failing; retrying (the buffer keeps new data)", "attempt", attempt, "err", err)
		}
		d := wait
		if se != nil && se.retryAfter > 0 {
			d = min(se.retryAfter, q.opts.MaxBackoff)
		}
		d += time.Duration(rand.Int64N(int64(d)/4 + 1))
		if !q.sleep(d) {
			return false
		}
		wait = min(2*wait, q.opts.MaxBackoff)
	}
}

// SendError is a request the receiver answered with an error status.
type SendError struct {
	Output, URL string
	Status      int
	Message     string // the start of the receiver's answer
	retryAfter  time.Duration
}

func (e *SendError) retryable() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

func (e *SendError) Error() string {
	hint := ""
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		hint = "; check the output's basic_auth, bearer token or headers"
	case e.Status == http.StatusNotFound:
		hint = "; check the output's url (the receiver's remote-write path, like /api/v1/push or /api/v1/write)"
	case e.Status == http.StatusTooManyRequests:
		hint = "; the receiver is rate limiting, retrying"
	case e.Status >= 500:
		hint = "; the receiver is failing, retrying"
	case e.Status >= 400:
		hint = "; the receiver refused the samples, which are dropped"
	}
	return fmt.Sprintf("remotewrite: output %q: %s answered %d: %s%s", e.Output, e.URL, e.Status, e.Message, hint)
}

// Reason is a short label value for metrics: http_<code>.
func (e *SendError) Reason() string { return "http_" + strconv.Itoa(e.Status) }

func (q *Queue) post(body []byte) error {
	ctx, cancel := context.WithTimeout(q.ctx, q.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	cfg := q.opts.Config
	for k, v := range cfg.Headers {
		req.Header.Set(k, v.Reveal())
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("User-Agent", "pushagent")
	if cfg.BasicAuth != nil {
		req.SetBasicAuth(cfg.BasicAuth.Username, cfg.BasicAuth.Password.Reveal())
	}
	if cfg.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.BearerToken.Reveal())
	}
	resp, err := q.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("remotewrite: output %q: %s did not answer within %v; raise the output's timeout or check the receiver: %w", q.opts.Name, q.url, q.timeout, err)
		}
		return fmt.Errorf("remotewrite: output %q: %w; is the receiver up and the url right?", q.opts.Name, err)
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(io.LimitReader(resp.Body, 512))
	if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	}
	if err != nil {
		// A torn answer does not say whether the receiver kept the
		// samples: sending them again is safe (same series, same
		// timestamps), losing them is not.
		return fmt.Errorf("remotewrite: output %q: the answer of %s broke off (%w); sending again", q.opts.Name, q.url, err)
	}
	if resp.StatusCode/100 == 2 {
		return nil
	}
	e := &SendError{Output: q.opts.Name, URL: q.url, Status: resp.StatusCode, Message: string(bytes.TrimSpace(msg))}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.retryAfter = time.Duration(s) * time.Second
	}
	return e
}
