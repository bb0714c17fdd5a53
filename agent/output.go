package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/expire"
	"github.com/pushagent/pushagent/agent/push"
	"github.com/pushagent/pushagent/agent/remotewrite"
)

// output is where a job's runs deliver what they collected: a Pushgateway
// or a remote-write receiver. A job has one or several; each delivers on
// its own, so one that fails holds back no other.
//
// The contract, in the manner of pushgateway's storage/interface.go:
//   - Concurrency: runs of different jobs call an output at the same time;
//     one job's runs never overlap, so calls for one job are sequential.
//     Implementations are safe for concurrent use.
//   - Ownership: push gets the run's Collection to read. Its batch is
//     shared with other outputs of the same run and must not be changed;
//     an output that needs them otherwise (another encoding, other labels)
//     builds its own copy.
//   - push delivers one run: it returns when the collection is delivered,
//     fails for good, or ctx ends (the run's deadline, which leaves the push
//     its share of the run), retrying within ctx as it sees fit. Its error
//     names the output and says what to do.
//   - afterPush is housekeeping after a successful push of job (expiring
//     the groups of dead replicas); it logs what fails and never fails the
//     run.
//   - shutdown is called once per job when the agent stops, after the last
//     run: what the output does for a job going away (delete its group when
//     the job asks for it). ctx bounds it.
//   - close releases the output for good (a reload replaced it, or the
//     agent closes); no call follows it. A buffering output keeps what it
//     has not delivered for the next start.
type output interface {
	// describe names the output's kind and URL for logs and the status
	// page ("pushgateway", "http://pushgateway:9091"); it holds no secret.
	describe() (kind, url string)
	// buffers reports whether push only writes a buffer that the output
	// delivers later, on its own (remote_write), rather than delivering.
	buffers() bool
	push(ctx context.Context, c *Collection) error
	afterPush(ctx context.Context, j config.Job, log *slog.Logger)
	shutdown(ctx context.Context, j config.Job, log *slog.Logger)
	// reason classifies a push error for the failure metrics.
	reason(err error) string
	// fill adds the output's own counts and state to its status.
	fill(s *OutputStatus)
	close() error
}

// pushgateway delivers to a Prometheus Pushgateway: one group per job and
// grouping key, replaced (PUT) or merged (POST) by each push. What the
// Pushgateway refuses or owns is dealt with here, not in merge: sample
// timestamps are dropped and push_time_seconds / push_failure_time_seconds
// families left out.
type pushgateway struct {
	name    string
	log     *slog.Logger
	client  *push.Client
	sweeper *expire.Sweeper
	timeout time.Duration // per request; bounds the delete at shutdown

	sent, failed atomic.Uint64 // samples
	mu           sync.Mutex
	lastErr      string
	// No failing streak here: each job's PushStatus keeps its own, which
	// readiness weighs.
}

func newPushgateway(name string, gw config.Gateway, m *selfMetrics, logger *slog.Logger) (*pushgateway, error) {
	client, err := push.New(gw)
	if err != nil {
		return nil, fmt.Errorf("output %q: %w", name, err)
	}
	client.OnAttempt = func(op, job string) {
		if op == "push" {
			m.pushAttempts.WithLabelValues(job, name).Inc()
		}
	}
	sweeper, err := expire.New(expire.Options{Gateway: gw, Logger: logger, Expired: m.expired})
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &pushgateway{name: name, log: logger, client: client, sweeper: sweeper, timeout: gw.Timeout}, nil
}

func (p *pushgateway) describe() (string, string) { return "pushgateway", p.client.URL() }

func (p *pushgateway) buffers() bool { return false }

func (p *pushgateway) push(ctx context.Context, c *Collection) error {
	fams, dropped, n := push.Families(c.Batch)
	if dropped.Timestamps > 0 {
		p.log.Info("output rule: timestamps dropped (the Pushgateway refuses timestamped samples)", "job", c.Job, "output", p.name, "samples", dropped.Timestamps)
	}
	if len(dropped.Families) > 0 {
		p.log.Warn("output rule: families the Pushgateway writes itself dropped", "job", c.Job, "output", p.name, "families", strings.Join(dropped.Families, ","))
	}
	err := p.client.Push(ctx, c.Job, c.Grouping, c.Method, gatherer(fams))
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failed.Add(uint64(n))
		err = fmt.Errorf("output %q: %w", p.name, err)
		p.lastErr = err.Error()
		return err
	}
	p.sent.Add(uint64(n))
	p.lastErr = ""
	return nil
}

func (p *pushgateway) fill(s *OutputStatus) {
	s.SentSamples, s.FailedSamples = p.sent.Load(), p.failed.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	s.LastError = p.lastErr
	// A gateway's failures are the jobs' push failures, which readiness
	// already weighs per job.
}

func (p *pushgateway) close() error { return nil }

// afterPush deletes the groups of the job's dead replicas: right after a
// successful push, so that the job's own group is fresh and the sweeper
// can check the clocks against it, and at most once per expire_after/4.
func (p *pushgateway) afterPush(ctx context.Context, j config.Job, log *slog.Logger) {
	now := time.Now()
	if j.ExpireAfter <= 0 || !p.sweeper.Due(j.Name, j.ExpireAfter, now) {
		return
	}
	if _, err := p.sweeper.Sweep(ctx, j.Name, j.Grouping, j.ExpireAfter, now); err != nil {
		log.Warn("expiring stale groups failed", "gateway", p.client.URL(), "err", err)
	}
}

// shutdown deletes the job's group when it has delete_on_shutdown.
func (p *pushgateway) shutdown(ctx context.Context, j config.Job, log *slog.Logger) {
	if !j.DeleteOnShutdown {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if err := p.client.Delete(ctx, j.Name, j.Grouping); err != nil {
		log.Error("delete on shutdown failed", "gateway", p.client.URL(), "err", err)
		return
	}
	log.Info("group deleted from the gateway", "gateway", p.client.URL())
}

func (p *pushgateway) reason(err error) string {
	if perr := (*push.Error)(nil); errors.As(err, &perr) {
		return perr.Reason
	}
	return "other"
}

// remoteWrite delivers to a remote-write or OTLP receiver through its
// disk buffer: a push is the run's request, encoded once in the output's
// wire format and written to the buffer, sent by the queue's own goroutine
// with its own retries.
type remoteWrite struct {
	kind    string // "remote_write" or "otlp"
	q       *remotewrite.Queue
	timeout time.Duration // per request
	// encode makes the run's request; nil: remote write 1.0.
	encode func(c *Collection) (remotewrite.Encoded, error)
}

func newRemoteWrite(name string, rw config.RemoteWrite, m *selfMetrics, logger *slog.Logger) (*remoteWrite, error) {
	r, err := openQueue(name, "remote_write", rw, m, logger)
	if err != nil {
		return nil, err
	}
	if rw.Protocol == config.RemoteWrite20 {
		r.encode = func(c *Collection) (remotewrite.Encoded, error) {
			return remotewrite.EncodeV2(c.Batch, c.Job, c.Grouping, c.Time)
		}
	}
	return r, nil
}

// newOTLP is an OTLP output: the remote_write output's buffer and sender
// with OTLP's encoding, its endpoint passed in remote_write's shape.
func newOTLP(name string, o config.OTLP, m *selfMetrics, logger *slog.Logger) (*remoteWrite, error) {
	rw := config.RemoteWrite{URL: o.URL, Timeout: o.Timeout, BasicAuth: o.BasicAuth, BearerToken: o.BearerToken,
		Headers: o.Headers, TLS: o.TLS, Buffer: o.Buffer}
	r, err := openQueue(name, "otlp", rw, m, logger)
	if err != nil {
		return nil, err
	}
	gzip := o.Compression != "none"
	r.encode = func(c *Collection) (remotewrite.Encoded, error) {
		return remotewrite.EncodeOTLP(c.Batch, c.Job, c.Grouping, c.Time, gzip)
	}
	return r, nil
}

func openQueue(name, kind string, rw config.RemoteWrite, m *selfMetrics, logger *slog.Logger) (*remoteWrite, error) {
	q, err := remotewrite.Open(remotewrite.Options{Name: name, Kind: kind, Config: rw, Logger: logger,
		OnSend: func(took time.Duration, _ error) { m.sendDuration.WithLabelValues(name).Observe(took.Seconds()) }})
	if err != nil {
		return nil, err
	}
	return &remoteWrite{kind: kind, q: q, timeout: rw.Timeout}, nil
}

func (r *remoteWrite) describe() (string, string) { return r.kind, r.q.URL() }

func (r *remoteWrite) buffers() bool { return true }

func (r *remoteWrite) push(_ context.Context, c *Collection) error {
	if r.encode == nil {
		return r.q.AppendBatch(c.Batch, c.Job, c.Grouping, c.Time)
	}
	req, err := r.encode(c)
	if err != nil {
		return fmt.Errorf("output %q: encoding the request: %w", r.q.Name(), err)
	}
	return r.q.Enqueue(req)
}

func (r *remoteWrite) afterPush(context.Context, config.Job, *slog.Logger) {}

func (r *remoteWrite) shutdown(context.Context, config.Job, *slog.Logger) {}

func (r *remoteWrite) reason(error) string { return "buffer" }

func (r *remoteWrite) fill(s *OutputStatus) {
	st := r.q.Stats()
	s.SentSamples, s.FailedSamples, s.DroppedSamples = st.SentSamples, st.FailedSamples, st.DroppedSamples
	s.BufferCorruptions = st.Corrupt
	s.BufferBytes, s.Oldest, s.LastError, s.FailingSince = st.BufferBytes, st.Oldest, st.LastError, st.FailingSince
}

func (r *remoteWrite) close() error { return r.q.Close() }

// wait returns once the buffer is delivered, for once, whose process ends
// right after its push; it waits at most two requests' timeouts, then
// leaves the rest in the buffer for the next start.
func (r *remoteWrite) wait(ctx context.Context) error {
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*r.timeout)
		defer cancel()
	}
	return r.q.Wait(ctx)
}

// outputReserve is the part of a run an output's push may need: a run
// stops its collectors that much before its deadline. A Pushgateway's push
// is one request; a buffering output's is a disk write's worth, since the
// send does not happen in the run. It is read from the config, so that
// validate, which opens no output, and the agent agree.
func outputReserve(o config.Output) time.Duration {
	if o.Pushgateway != nil {
		return o.Pushgateway.Timeout
	}
	return time.Second
}

func newOutput(o config.Output, m *selfMetrics, logger *slog.Logger) (output, error) {
	if o.OTLP != nil {
		return newOTLP(o.Name, *o.OTLP, m, logger)
	}
	if o.RemoteWrite != nil {
		return newRemoteWrite(o.Name, *o.RemoteWrite, m, logger)
	}
	return newPushgateway(o.Name, *o.Pushgateway, m, logger)
}

type gatherer []*dto.MetricFamily

func (g gatherer) Gather() ([]*dto.MetricFamily, error) { return g, nil }
