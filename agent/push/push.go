// Package push sends a job's metric families to a Prometheus Pushgateway
// with client_golang's push package: grouping key, PUT (replace the group)
// or POST (add to it), basic auth or a bearer token, TLS, a per-request
// timeout and bounded retries.
//
// This package must never put a credential into an error or log line: the
// gateway URL it reports is stripped of any userinfo.
package push

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/series"
)

// Client pushes to one gateway. It is safe for concurrent use.
type Client struct {
	url      string // as configured, used for requests
	safeURL  string // for messages: no userinfo
	username string
	password config.Secret
	token    config.Secret
	http     *http.Client
	timeout  time.Duration
	// Retry policy: attempts per push and the first backoff, doubled per
	// attempt with jitter. A push gives up early when its context ends,
	// which the agent sets before the job's next run so that newer data
	// supersedes an older retry.
	attempts int
	backoff  time.Duration

	// OnAttempt, when set, is called before every HTTP request ("push" or
	// "delete"), retries included, for the agent's attempt counter.
	OnAttempt func(op, job string)
}

// New builds a client from the gateway section of the config.
func New(gw config.Gateway) (*Client, error) {
	u, err := url.Parse(gw.URL)
	if err != nil {
		return nil, fmt.Errorf("gateway.url: %w", err)
	}
	safe := *u
	safe.User = nil
	transport, err := gw.TLS.Transport()
	if err != nil {
		return nil, fmt.Errorf("gateway.tls: %w", err)
	}
	transport.MaxIdleConnsPerHost = 8
	timeout := gw.Timeout
	if timeout <= 0 {
		timeout = config.DefaultGatewayTimeout // a Gateway built in code
	}
	c := &Client{
		url:      gw.URL,
		safeURL:  safe.String(),
		token:    gw.BearerToken,
		http:     &http.Client{Transport: transport},
		timeout:  timeout,
		attempts: 3,
		backoff:  500 * time.Millisecond,
	}
	if gw.BasicAuth != nil {
		c.username = gw.BasicAuth.Username
		c.password = gw.BasicAuth.Password
	}
	return c, nil
}

// URL is the gateway URL without credentials, for logs.
func (c *Client) URL() string { return c.safeURL }

// Error is a failed push or delete. Reason is a short label value for the
// agent's own metrics: "http_<code>", "timeout", "network" or "encode".
type Error struct {
	Op       string // "push" or "delete"
	Job      string
	Grouping map[string]string
	Gateway  string
	Status   int // HTTP status, 0 when there was no answer
	Reason   string
	Attempts int
	Err      error
}

func (e *Error) Error() string {
	var hint string
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		hint = " (check gateway.basic_auth / bearer_token)"
	case e.Status == http.StatusBadRequest:
		hint = " (the gateway refused the metrics; its message says which)"
	case e.Reason == "timeout":
		hint = " (raise gateway.timeout, or check that the gateway is up)"
	case e.Reason == "network":
		hint = " (is the gateway running and gateway.url right?)"
	case e.Status >= 500:
		hint = " (the gateway is failing; retried until the next run)"
	}
	prep := "to"
	if e.Op == "delete" {
		prep = "at"
	}
	return fmt.Sprintf("%s job %q (%s) %s %s failed after %d attempt(s): %v%s",
		e.Op, e.Job, config.DescribeGrouping(e.Grouping), prep, e.Gateway, e.Attempts, e.Err, hint)
}

func (e *Error) Unwrap() error { return e.Err }

// Push sends the families from g under job and grouping. method is "put"
// (replace every metric of the group) or "post" (replace only the families
// pushed). Network errors and 5xx answers are retried; 4xx are not, since
// the same request would fail the same way.
func (c *Client) Push(ctx context.Context, job string, grouping map[string]string, method string, g prometheus.Gatherer) error {
	return c.do(ctx, "push", job, grouping, func(p *push.Pusher, ctx context.Context) error {
		p = p.Gatherer(g)
		if method == "post" {
			return p.AddContext(ctx)
		}
		return p.PushContext(ctx)
	})
}

// Delete removes the job's group from the gateway.
func (c *Client) Delete(ctx context.Context, job string, grouping map[string]string) error {
	return c.do(ctx, "delete", job, grouping, func(p *push.Pusher, _ context.Context) error {
		return p.Delete()
	})
}

func (c *Client) do(ctx context.Context, op, job string, grouping map[string]string, call func(*push.Pusher, context.Context) error) error {
	var last *Error
	for attempt := 1; attempt <= c.attempts; attempt++ {
		if attempt > 1 {
			wait := c.backoff << (attempt - 2)
			wait += time.Duration(rand.Int64N(int64(wait)/2 + 1))
			// A wait that outlasts the run is pointless: the next run's
			// newer data supersedes this retry.
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				return last
			}
			select {
			case <-ctx.Done():
				return last
			case <-time.After(wait):
			}
		}
		if c.OnAttempt != nil {
			c.OnAttempt(op, job)
		}
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		d := &doer{client: c.http, ctx: actx}
		p := push.New(c.url, job).Client(d)
		for k, v := range grouping {
			p = p.Grouping(k, v)
		}
		h := http.Header{}
		if c.token != "" {
			h.Set("Authorization", "Bearer "+c.token.Reveal())
		}
		p = p.Header(h)
		if c.username != "" || c.password != "" {
			p = p.BasicAuth(c.username, c.password.Reveal())
		}
		err := call(p, actx)
		cancel()
		if err == nil {
			return nil
		}
		last = &Error{Op: op, Job: job, Grouping: grouping, Gateway: c.safeURL, Status: d.status, Attempts: attempt, Err: trimmed(c.scrub(err))}
		switch {
		case d.status != 0:
			last.Reason = fmt.Sprintf("http_%d", d.status)
		case errors.Is(err, context.DeadlineExceeded):
			last.Reason = "timeout"
		case d.called:
			last.Reason = "network"
		default:
			last.Reason = "encode"
		}
		if !retryable(last) || ctx.Err() != nil {
			return last
		}
	}
	return last
}

// scrub removes the configured URL (which may hold credentials) from
// client_golang's messages in favour of the safe one.
func (c *Client) scrub(err error) error {
	msg := err.Error()
	if c.url != c.safeURL && strings.Contains(msg, c.url) {
		return errors.New(strings.ReplaceAll(msg, c.url, c.safeURL))
	}
	if u, _ := url.Parse(c.url); u != nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" && strings.Contains(msg, p) {
			return errors.New(strings.ReplaceAll(msg, p, "<secret>"))
		}
	}
	return err
}

// trimmed drops the trailing newline gateways end their messages with, so
// that the hint reads as part of the same line.
func trimmed(err error) error {
	msg := err.Error()
	if t := strings.TrimRight(msg, "\n "); t != msg {
		return errors.New(t)
	}
	return err
}

func retryable(e *Error) bool {
	switch e.Reason {
	case "encode":
		return false
	case "timeout", "network":
		return true
	}
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// doer records the status of the gateway's answer, which client_golang
// only reports inside an error string, and binds requests to the attempt's
// context (its Delete builds requests without one).
type doer struct {
	client *http.Client
	ctx    context.Context
	status int
	called bool
}

func (d *doer) Do(req *http.Request) (*http.Response, error) {
	d.called = true
	resp, err := d.client.Do(req.WithContext(d.ctx))
	if err == nil && resp.StatusCode >= 300 {
		d.status = resp.StatusCode
	}
	return resp, err
}

// Dropped is what Families left out, for the log: a plugin author should
// learn why a timestamp or a family never reached the gateway.
type Dropped struct {
	Timestamps int      // series whose timestamp was dropped
	Families   []string // push_time_seconds, push_failure_time_seconds
}

// Families is what the Pushgateway accepts of a job's batch, in the
// client_model shape its protobuf body is written from: no sample
// timestamps (it refuses them; the push time is what it records) and none
// of the families it writes itself. samples is how many samples that is,
// as a receiver stores them (a histogram is several). The batch is shared
// with other outputs and is only read.
func Families(b *series.Batch) (fams []*dto.MetricFamily, d Dropped, samples int) {
	for i := range b.Samples {
		s := &b.Samples[i]
		f := b.FamilyOf(s)
		if gatewayOwn(f) {
			if len(d.Families) == 0 || d.Families[len(d.Families)-1] != f.Name {
				d.Families = append(d.Families, f.Name)
			}
			continue
		}
		samples++
		if s.T != 0 && b.IsSeriesHead(s) {
			d.Timestamps++
		}
	}
	return b.MetricFamilies(series.DTOOptions{NoTimestamps: true, Skip: gatewayOwn}), d, samples
}

// gatewayOwn is whether the Pushgateway writes a family of this name
// itself, for every group.
func gatewayOwn(f *series.Family) bool {
	return f.Name == "push_time_seconds" || f.Name == "push_failure_time_seconds"
}
