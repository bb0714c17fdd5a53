package agent

import (
	"context"
	"errors"
	"log/slog"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/expire"
	"github.com/pushagent/pushagent/agent/push"
)

// output is where a job's runs deliver what they collected. The
// Pushgateway is the first; remote_write is to be the second, on the same
// seam.
//
// The contract, in the manner of pushgateway's storage/interface.go:
//   - Concurrency: runs of different jobs call an output at the same time;
//     one job's runs never overlap, so calls for one job are sequential.
//     Implementations are safe for concurrent use.
//   - Ownership: push gets the run's Collection to read. Its families may be
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
type output interface {
	// describe names the output for logs and the status page ("gateway
	// http://pushgateway:9091"); it holds no secret.
	describe() (kind, url string)
	push(ctx context.Context, c *Collection) error
	afterPush(ctx context.Context, j config.Job, log *slog.Logger)
	shutdown(ctx context.Context, j config.Job, log *slog.Logger)
	// reason classifies a push error for the failure metrics.
	reason(err error) string
}

// pushgateway delivers to a Prometheus Pushgateway: one group per job and
// grouping key, replaced (PUT) or merged (POST) by each push.
type pushgateway struct {
	client  *push.Client
	sweeper *expire.Sweeper
	timeout time.Duration // per request; bounds the delete at shutdown
}

func newPushgateway(gw config.Gateway, m *selfMetrics, logger *slog.Logger) (*pushgateway, error) {
	client, err := push.New(gw)
	if err != nil {
		return nil, err
	}
	client.OnAttempt = func(op, job string) {
		if op == "push" {
			m.pushAttempts.WithLabelValues(job).Inc()
		}
	}
	sweeper, err := expire.New(expire.Options{Gateway: gw, Logger: logger, Expired: m.expired})
	if err != nil {
		return nil, err
	}
	return &pushgateway{client: client, sweeper: sweeper, timeout: gw.Timeout}, nil
}

func (p *pushgateway) describe() (string, string) { return "gateway", p.client.URL() }

func (p *pushgateway) push(ctx context.Context, c *Collection) error {
	return p.client.Push(ctx, c.Job, c.Grouping, c.Method, gatherer(c.Families))
}

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

type gatherer []*dto.MetricFamily

func (g gatherer) Gather() ([]*dto.MetricFamily, error) { return g, nil }
