// Package expire deletes a job's stale groups from the Pushgateway: groups
// whose replica stopped pushing without deleting them (kill -9, OOM, a lost
// node), which the gateway would otherwise serve, frozen, forever.
//
// A sweep reads the gateway's list of groups (GET /api/v1/metrics, with the
// gateway's auth and TLS) and deletes, with client_golang's
// push.Pusher.Delete, every group of the job whose last sign of life is older
// than the job's expire_after. The last sign of life is the later of
// push_time_seconds and push_failure_time_seconds: a replica whose pushes are
// failing is alive, and its group keeps the failure visible.
//
// How the agent calls it: after each successful push of a job that has
// expire_after set, if [Sweeper.Due] says so (at most once per
// expire_after/4), it calls [Sweeper.Sweep] with the job's name and grouping
// and the run's context:
//
//	if j.ExpireAfter > 0 && sw.Due(j.Name, j.ExpireAfter, now) {
//		n, err := sw.Sweep(ctx, j.Name, j.Grouping, j.ExpireAfter, now)
//		...
//	}
//
// Every live replica of the job sweeps, so stale groups go even when the
// replica that would have swept is the one that died. Two replicas deleting
// the same group is harmless: deleting a missing group succeeds.
//
// What it must never do:
//   - delete a group of another job (only groups whose job label is the
//     job's name are considered);
//   - delete the caller's own group (the one with the caller's exact grouping
//     key), nor any group whose age it cannot read from the gateway's answer;
//   - delete anything when the caller's own group, just pushed, looks older
//     than half of expire_after (or as much in the future): the agent's clock
//     and the gateway's disagree, and every age would be wrong;
//   - send a DELETE that the gateway would read as another group.
//     client_golang escapes grouping values with url.QueryEscape, which turns
//     a space into "+", and the gateway reads "+" as "+": deleting
//     {instance="a b"} would delete {instance="a+b"}. Each DELETE's URL is
//     decoded the way the gateway decodes it and must name exactly the stale
//     group, or it is not sent;
//   - put a credential into an error or a log line.
//
// A group that was pushed again between the list and the delete (a replica
// back from a long pause) is deleted anyway; its next push recreates it. The
// 3× rule on expire_after in the config keeps this to replicas that missed
// at least three runs.
package expire

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/pushagent/pushagent/agent/config"
)

// Doer sends an HTTP request; *http.Client is one. Implementations must be
// safe to call concurrently.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Options configure a Sweeper.
type Options struct {
	// Gateway is the gateway to sweep: its URL, basic auth or bearer token,
	// TLS, and Timeout, which bounds each request (0:
	// [config.DefaultGatewayTimeout], as for pushes, so that a stuck
	// gateway cannot hold a job's run).
	Gateway config.Gateway
	// Client sends the requests. Default: an *http.Client with Gateway.TLS,
	// built like the pusher's. Set it to share the pusher's connections or,
	// in tests, to answer without a gateway.
	Client Doer
	// Logger gets one line per deleted group (job, grouping, age) and a
	// warning per group it will not delete although stale. Default: discard.
	Logger *slog.Logger
	// Expired counts deleted groups. It must have exactly one label, "job"
	// (e.g. pushagent_expired_groups_total{job}). nil: not counted.
	Expired *prometheus.CounterVec
}

// Sweeper deletes stale groups at one gateway. It is safe for concurrent
// use; sweeps of different jobs may run at once.
type Sweeper struct {
	url      string // as configured, for requests
	safeURL  string // for messages: no userinfo
	prefix   string // URL path before "/metrics/…", to check DELETE URLs
	username string
	password config.Secret
	token    config.Secret
	client   Doer
	timeout  time.Duration
	logger   *slog.Logger
	expired  *prometheus.CounterVec

	mu   sync.Mutex
	last map[string]time.Time // job -> start of its last sweep
}

// New returns a Sweeper for the gateway in opts. It fails only when the
// gateway URL or its TLS files cannot be used.
func New(opts Options) (*Sweeper, error) {
	gw := opts.Gateway
	u, err := url.Parse(gw.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("expire: gateway.url must be an http:// or https:// URL")
	}
	safe := *u
	safe.User = nil
	s := &Sweeper{
		url:     strings.TrimSuffix(gw.URL, "/"),
		safeURL: strings.TrimSuffix(safe.String(), "/"),
		prefix:  strings.TrimSuffix(u.Path, "/") + "/metrics/",
		token:   gw.BearerToken,
		client:  opts.Client,
		timeout: gw.Timeout,
		logger:  opts.Logger,
		expired: opts.Expired,
		last:    map[string]time.Time{},
	}
	if gw.BasicAuth != nil {
		s.username, s.password = gw.BasicAuth.Username, gw.BasicAuth.Password
	}
	if s.timeout <= 0 {
		s.timeout = config.DefaultGatewayTimeout // a Gateway built in code
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.client == nil {
		transport, err := gw.TLS.Transport()
		if err != nil {
			return nil, fmt.Errorf("expire: gateway.tls: %w", err)
		}
		s.client = &http.Client{Transport: transport}
	}
	return s, nil
}

// Due reports whether job should be swept at now: it never was, or its last
// sweep started maxAge/4 or longer ago. Listing every group is a large
// request on a busy gateway, and a group is at most a quarter of maxAge
// late to go this way.
func (s *Sweeper) Due(job string, maxAge time.Duration, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, ok := s.last[job]
	return !ok || now.Sub(last) >= maxAge/4 || now.Before(last)
}

// Sweep deletes the groups of job at the gateway whose last push (or failed
// push) is more than maxAge before now, except the caller's own group: job
// with grouping. It returns how many groups it deleted and an error naming
// the job and the gateway if the list could not be read, the clocks
// disagree, or a delete failed (the other deletes are still tried).
//
// ctx bounds the whole sweep; each request is also bounded by the gateway
// timeout. now is the caller's clock, compared with the gateway's times.
func (s *Sweeper) Sweep(ctx context.Context, job string, grouping map[string]string, maxAge time.Duration, now time.Time) (deleted int, err error) {
	if job == "" || maxAge <= 0 {
		return 0, fmt.Errorf("expire: Sweep needs a job name and a positive maxAge, got %q and %v", job, maxAge)
	}
	s.mu.Lock()
	s.last[job] = now
	s.mu.Unlock()

	groups, err := s.list(ctx)
	if err != nil {
		return 0, fmt.Errorf("expire: job %q: list groups at %s: %w", job, s.safeURL, err)
	}
	stale, skewed := selectStale(groups, job, grouping, maxAge, now)
	if skewed != 0 {
		return 0, fmt.Errorf("expire: job %q: our own group at %s was last pushed %v before now (expected about 0: we just pushed); "+
			"the agent's and the gateway's clocks disagree, so no group is deleted until they agree", job, s.safeURL, skewed.Round(time.Second))
	}
	var errs []error
	for _, g := range stale {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("expire: job %q: %w", job, err))
			break
		}
		log := s.logger.With("job", job, "grouping", config.FormatGrouping(g.Labels), "age", g.Age.Round(time.Second), "expire_after", maxAge)
		err := s.delete(ctx, g.Labels)
		switch {
		case errors.Is(err, errOtherGroup):
			log.Warn("stale group not deleted: its grouping key cannot be sent to the gateway as-is", "err", err)
		case err != nil:
			errs = append(errs, fmt.Errorf("expire: job %q: delete group {%s} at %s: %w", job, config.FormatGrouping(g.Labels), s.safeURL, err))
		default:
			deleted++
			log.Info("stale group deleted from the gateway", "last_push", g.LastSeen.UTC().Format(time.RFC3339))
			if s.expired != nil {
				if c, err := s.expired.GetMetricWith(prometheus.Labels{"job": job}); err == nil {
					c.Inc()
				}
			}
		}
	}
	return deleted, errors.Join(errs...)
}

// maxList bounds the gateway's answer to GET /api/v1/metrics. The answer is
// decoded one group at a time, so this is not about memory but about a
// broken or hostile endpoint streaming forever within the timeout.
const maxList = 1 << 30

func (s *Sweeper) list(ctx context.Context) ([]group, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/api/v1/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	s.auth(req.Header)
	if s.username != "" || s.password != "" {
		req.SetBasicAuth(s.username, s.password.Reveal())
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.scrub(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		hint := ""
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			hint = " (check gateway.basic_auth / bearer_token)"
		case http.StatusNotFound:
			hint = " (the group list is read from /api/v1/metrics: is gateway.url the root of a Pushgateway?)"
		}
		return nil, fmt.Errorf("status %d: %s%s", resp.StatusCode, strings.TrimSpace(string(body)), hint)
	}
	return decodeGroups(&limitReader{r: resp.Body, n: maxList})
}

func (s *Sweeper) auth(h http.Header) {
	if s.token != "" {
		h.Set("Authorization", "Bearer "+s.token.Reveal())
	}
}

// errOtherGroup marks a DELETE that was not sent because the gateway would
// have read its URL as a different group.
var errOtherGroup = errors.New("the DELETE URL would name a different group")

// delete deletes the group with exactly labels (job included) with
// client_golang, through a doer that checks the URL before sending it.
func (s *Sweeper) delete(ctx context.Context, labels map[string]string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	p := push.New(s.url, labels["job"]).Client(&checkedDoer{s: s, ctx: ctx, want: labels})
	for k, v := range labels {
		if k != "job" {
			p = p.Grouping(k, v)
		}
	}
	h := http.Header{}
	s.auth(h)
	p = p.Header(h)
	if s.username != "" || s.password != "" {
		p = p.BasicAuth(s.username, s.password.Reveal())
	}
	if err := p.Delete(); err != nil {
		if errors.Is(err, errOtherGroup) {
			return err
		}
		return s.scrub(err)
	}
	return nil
}

// checkedDoer sends a DELETE only if its URL names exactly the group want,
// read as the gateway reads it, and binds it to ctx (client_golang's Delete
// builds its request without one).
type checkedDoer struct {
	s    *Sweeper
	ctx  context.Context
	want map[string]string
}

func (d *checkedDoer) Do(req *http.Request) (*http.Response, error) {
	got, err := groupingFromPath(req.URL.Path, d.s.prefix)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errOtherGroup, err)
	}
	if !maps.Equal(got, d.want) {
		return nil, fmt.Errorf("%w: client_golang would delete {%s} instead (it escapes a space as \"+\", which the gateway keeps)",
			errOtherGroup, config.FormatGrouping(got))
	}
	return d.s.client.Do(req.WithContext(d.ctx))
}

// groupingFromPath reads the grouping key from a push URL path the way
// Pushgateway 1.x does: the path is URL-decoded, then split at "/" into
// name/value pairs after prefix ("…/metrics/"); a name ending in "@base64"
// has a base64url value (padding optional, "=" alone is the empty string).
func groupingFromPath(path, prefix string) (map[string]string, error) {
	rest, ok := strings.CutPrefix(path, prefix)
	if !ok {
		return nil, fmt.Errorf("path %q does not start with %q", path, prefix)
	}
	parts := strings.Split(rest, "/")
	if len(parts)%2 != 0 {
		return nil, fmt.Errorf("odd number of components in %q", rest)
	}
	out := make(map[string]string, len(parts)/2)
	for i := 0; i < len(parts); i += 2 {
		name, value := parts[i], parts[i+1]
		if n, ok := strings.CutSuffix(name, "@base64"); ok {
			b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(value, "="))
			if err != nil {
				return nil, fmt.Errorf("label %s: bad base64 value", n)
			}
			name, value = n, string(b)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("label %s twice", name)
		}
		out[name] = value
	}
	return out, nil
}

// scrub replaces the configured URL with the safe one in an error from
// client_golang or net/http. The config rejects URLs with credentials, so
// this only matters for a Sweeper built from an unchecked Gateway.
func (s *Sweeper) scrub(err error) error {
	if s.url != s.safeURL && strings.Contains(err.Error(), s.url) {
		return errors.New(strings.ReplaceAll(err.Error(), s.url, s.safeURL))
	}
	return err
}

// limitReader fails with a clear error once more than n bytes were read.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("the gateway's group list is larger than %d MiB", maxList>>20)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
