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

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/series"
)

// Options configure a Queue.
type Options struct {
	// Name is the output's name in the config, for messages.
	Name string
	// Kind is the output's section in the config, for messages:
	// "remote_write" (the default) or "otlp".
	Kind string
	// Config is the receiver and the buffer. An OTLP output passes its
	// url, headers, timeout, tls and buffer in the same shape: the sending,
	// buffering and retry rules are the same.
	Config config.RemoteWrite
	Logger *slog.Logger
	// Clock times the waits between retries. Default: the real clock;
	// tests pass a fake one to see when sending resumes.
	Clock clockwork.Clock
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
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Kind == "" {
		opts.Kind = "remote_write"
	}
	cfg := opts.Config
	if cfg.Queue == (config.QueueConfig{}) {
		// A config built in code rather than loaded.
		cfg.Queue = config.DefaultQueueConfig
	}
	opts.Config = cfg
	if _, err := url.Parse(cfg.URL); err != nil {
		return nil, fmt.Errorf("output %q: %s.url: %w", opts.Name, opts.Kind, err)
	}
	transport, err := cfg.TLS.Transport()
	if err != nil {
		return nil, fmt.Errorf("output %q: %s.tls: %w", opts.Name, opts.Kind, err)
	}
	log := opts.Logger.With("output", opts.Name)
	maxSize := cfg.Buffer.MaxSize
	if maxSize <= 0 {
		maxSize = config.DefaultBufferMaxSize // a config built in code
	}
	buf, err := openBuffer(cfg.Buffer.Dir, maxSize, log)
	if errors.Is(err, ErrBufferInUse) {
		return nil, fmt.Errorf("output %q: remote_write.buffer.dir: %w", opts.Name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("output %q: %s.buffer: %w; check that the directory is writable by the agent", opts.Name, opts.Kind, err)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		// A config built in code.
		timeout = config.DefaultRemoteWriteTimeout
		if opts.Kind == "otlp" {
			timeout = config.DefaultOTLPTimeout
		}
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

// Name is the output's name.
func (q *Queue) Name() string { return q.opts.Name }

// Append buffers one run's series as a remote write 1.0 request. It
// returns once they are in the buffer's file, before they are sent.
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

// AppendBatch buffers one run's batch as a remote write 1.0 request (see
// EncodeBatch).
func (q *Queue) AppendBatch(b *series.Batch, job string, grouping map[string]string, at time.Time) error {
	if b.Len() == 0 {
		return nil
	}
	return q.AppendBody(EncodeBatch(b, job, grouping, at))
}

// AppendBody buffers an encoded remote write 1.0 request of samples
// samples, the oldest at oldest (milliseconds).
func (q *Queue) AppendBody(body []byte, samples int, oldest int64) error {
	return q.Enqueue(Encoded{Format: FormatRemoteWrite1, Body: body, Samples: samples, Oldest: oldest})
}

// Enqueue buffers one run's request, encoded in any Format. It returns
// once it is in the buffer's file, before it is sent. A request without
// samples is not buffered.
func (q *Queue) Enqueue(req Encoded) error {
	if req.Samples == 0 {
		return nil
	}
	if !req.Format.valid() {
		return fmt.Errorf("remotewrite: output %q: unknown request format %d", q.opts.Name, req.Format)
	}
	var err error
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return fmt.Errorf("remotewrite: output %q is closed (the config was reloaded)", q.opts.Name)
	}
	if q.idle {
		q.idle, q.idleCh = false, make(chan struct{})
	}
	err = q.buf.append(record{format: req.Format, samples: req.Samples, oldest: req.Oldest, body: req.Body})
	if err == nil {
		var dropped int
		dropped, err = q.buf.trim()
		if dropped > 0 {
			q.stats.DroppedSamples += uint64(dropped)
			q.log.Warn(q.opts.Kind+" buffer full: oldest data dropped", "samples", dropped, "max_size", q.buf.maxSize)
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
				q.log.Error("reading the "+q.opts.Kind+" buffer", "err", err)
				if !q.sleep(q.opts.Config.Queue.MaxBackoff) {
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
			q.log.Error("saving the "+q.opts.Kind+" buffer position (a restart sends some data again)", "err", err)
		}
		if _, err := q.buf.trim(); err != nil {
			q.log.Error("removing delivered "+q.opts.Kind+" buffer segments", "err", err)
		}
		q.mu.Unlock()
	}
}

func (q *Queue) sleep(d time.Duration) bool {
	t := q.opts.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
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
	backoff := q.opts.Config.Queue
	wait := backoff.MinBackoff
	var warned time.Time
	for attempt := 1; ; attempt++ {
		start := time.Now()
		rejected, err := q.post(r)
		took := time.Since(start)
		if q.ctx.Err() != nil {
			return false
		}
		if q.opts.OnSend != nil {
			q.opts.OnSend(took, err)
		}
		q.mu.Lock()
		if err == nil {
			failingSince := q.stats.FailingSince
			n := min(rejected.points, int64(r.samples))
			q.stats.SentSamples += uint64(int64(r.samples) - n)
			q.stats.FailedSamples += uint64(n)
			q.stats.LastError, q.stats.FailingSince, q.stats.LastSuccess = "", time.Time{}, time.Now()
			q.mu.Unlock()
			if rejected.points > 0 || rejected.message != "" {
				// OTLP's partial success: the rest was kept, and sending
				// the request again would not change the receiver's mind.
				q.log.Warn(q.opts.Kind+" receiver rejected part of a request; those data points are dropped",
					"rejected_data_points", rejected.points, "message", rejected.message)
			}
			// "sent" is the receiver's acceptance; the run logged
			// "buffered" when it wrote the data.
			args := []any{"url", q.url, "samples", int64(r.samples) - n, "delay", time.Since(time.UnixMilli(r.oldest)).Round(time.Millisecond)}
			if attempt > 1 {
				args = append(args, "attempts", attempt)
			}
			if !failingSince.IsZero() {
				args = append(args, "failed_for", time.Since(failingSince).Round(time.Millisecond))
			}
			q.log.Info("sent", args...)
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
			q.log.Error("refused: the receiver will not take this request, so its samples are dropped, not sent", "url", q.url, "status", se.Status, "samples", r.samples, "err", err)
			return true
		}
		// Retries come every max_backoff at most (5s by default): a line
		// for each would bury the log in a long outage, so once a minute.
		if now := q.opts.Clock.Now(); attempt == 1 || now.Sub(warned) >= time.Minute {
			warned = now
			q.log.Warn(q.opts.Kind+" failing; retrying (the buffer keeps new data)", "attempt", attempt, "err", err)
		}
		d := wait
		if se != nil && se.retryAfter > 0 {
			d = se.retryAfter
		}
		// Jitter spreads the retries of agents that failed together. It
		// shortens the wait, never lengthens it: max_backoff is the
		// promise of how soon sending resumes once the receiver is back.
		d = min(d, backoff.MaxBackoff)
		d -= time.Duration(rand.Int64N(int64(d)/4 + 1))
		if !q.sleep(d) {
			return false
		}
		wait = min(2*wait, backoff.MaxBackoff)
	}
}

// SendError is a request the receiver answered with an error status, or
// (remote write 2.0) accepted without writing any of its samples.
type SendError struct {
	Output, URL string
	Status      int
	Message     string // the start of the receiver's answer
	Format      Format // of the request
	retryAfter  time.Duration
}

func (e *SendError) retryable() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

func (e *SendError) Error() string {
	if e.Status/100 == 2 {
		return fmt.Sprintf("remotewrite: output %q: %s answered %d to a %s request but wrote none of its samples (%s): "+
			"the receiver speaks remote write 1.0 only; set protocol: \"1.0\" on this output; the samples are dropped",
			e.Output, e.URL, e.Status, e.Format, e.Message)
	}
	hint := ""
	switch {
	case e.Status == http.StatusUnsupportedMediaType && e.Format == FormatRemoteWrite2:
		hint = "; the receiver does not accept remote write 2.0: set protocol: \"1.0\" on this output (the samples are dropped)"
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		hint = "; check the output's basic_auth, bearer token or headers"
	case e.Status == http.StatusNotFound && e.Format.otlp():
		hint = "; check the output's url (the receiver's OTLP metrics path, like /v1/metrics, /otlp/v1/metrics or /opentelemetry/v1/metrics)"
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

// Reason is a short label value for metrics: http_<code>, or
// not_written for a remote write 2.0 request accepted but not written.
func (e *SendError) Reason() string {
	if e.Status/100 == 2 {
		return "not_written"
	}
	return "http_" + strconv.Itoa(e.Status)
}

// rejection is what an OTLP receiver's partial success says it dropped.
type rejection struct {
	points  int64
	message string
}

func (q *Queue) post(r record) (rejection, error) {
	ctx, cancel := context.WithTimeout(q.ctx, q.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.url, bytes.NewReader(r.body))
	if err != nil {
		return rejection{}, err
	}
	cfg := q.opts.Config
	for k, v := range cfg.Headers {
		req.Header.Set(k, v.Reveal())
	}
	r.format.setHeaders(req.Header)
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
			return rejection{}, fmt.Errorf("remotewrite: output %q: %s did not answer within %v; raise the output's timeout or check the receiver: %w", q.opts.Name, q.url, q.timeout, err)
		}
		return rejection{}, fmt.Errorf("remotewrite: output %q: %w; is the receiver up and the url right?", q.opts.Name, err)
	}
	defer resp.Body.Close()
	ok := resp.StatusCode/100 == 2
	limit := int64(512)
	if ok && r.format.otlp() {
		limit = 64 << 10 // a partial success's message
	}
	msg, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	}
	if err != nil {
		// A torn answer does not say whether the receiver kept the
		// samples: sending them again is safe (same series, same
		// timestamps), losing them is not.
		return rejection{}, fmt.Errorf("remotewrite: output %q: the answer of %s broke off (%w); sending again", q.opts.Name, q.url, err)
	}
	e := &SendError{Output: q.opts.Name, URL: q.url, Status: resp.StatusCode, Message: string(bytes.TrimSpace(msg)), Format: r.format}
	switch {
	case ok && r.format == FormatRemoteWrite2:
		// Remote write 2.0 receivers must say what they wrote; one that
		// says nothing took the body for a 1.0 request, found no series in
		// it, and dropped everything. Prometheus' own sender treats it so.
		if r.samples > 0 && !wroteAny(resp.Header) {
			e.Message = "no " + writtenSamplesRW2 + " in its answer"
			return rejection{}, e
		}
		return rejection{}, nil
	case ok && r.format.otlp():
		return partialSuccess(resp.Header.Get("Content-Type"), msg), nil
	case ok:
		return rejection{}, nil
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.retryAfter = time.Duration(s) * time.Second
	}
	return rejection{}, e
}

// wroteAny reads remote write 2.0's written headers: true when one says
// something was written.
func wroteAny(h http.Header) bool {
	for _, k := range []string{writtenSamplesRW2, writtenHistoRW2, writtenExemplarsRW2} {
		if n, err := strconv.Atoi(h.Get(k)); err == nil && n > 0 {
			return true
		}
	}
	return false
}
