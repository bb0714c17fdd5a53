// Package httpplugin runs collectors that are HTTP(S) endpoints instead of
// wasm modules: the agent POSTs the collector's config (JSON) and the
// endpoint answers with Prometheus text exposition format. This lets a
// collector that cannot be wasm (native libraries, a database driver) plug
// in as a small service, with the same merge, limits and success series.
//
// This package must never read more than the collector's max_output from an
// endpoint, nor wait past the collector's deadline.
package httpplugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pushagent/pushagent/agent/config"
)

// ErrHTTP marks every failure of an HTTP plugin call (for errors.Is).
var ErrHTTP = errors.New("http plugin")

// Accept is what we ask endpoints for: the text format wasm plugins print.
const Accept = "text/plain; version=0.0.4"

// Client calls one HTTP plugin endpoint. It is safe for concurrent use.
type Client struct {
	url  string // config refuses credentials in it, so it may be logged
	cfg  *config.HTTPPlugin
	http *http.Client
}

// New prepares a client for the endpoint.
func New(cfg *config.HTTPPlugin) (*Client, error) {
	tr, err := cfg.TLS.Transport()
	if err != nil {
		return nil, fmt.Errorf("http plugin %s: tls: %w", cfg.URL, err)
	}
	return &Client{
		url: cfg.URL,
		cfg: cfg,
		// The caller's context carries the collector's deadline; a plugin
		// endpoint must not redirect the agent elsewhere.
		http: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}, nil
}

// URL is the endpoint, for logs.
func (c *Client) URL() string { return c.url }

// Run POSTs the config and returns the exposition the endpoint answered.
// job and collector go along as headers so one endpoint can serve several
// collectors.
func (c *Client) Run(ctx context.Context, job, collector string, cfg []byte, maxOutput int64) ([]byte, error) {
	out, err := c.run(ctx, job, collector, cfg, maxOutput)
	if err != nil {
		return nil, &kindError{err: err, kind: ErrHTTP}
	}
	return out, nil
}

// kindError adds a kind to an error without changing its message.
type kindError struct{ err, kind error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }

func (c *Client) run(ctx context.Context, job, collector string, cfg []byte, maxOutput int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(cfg))
	if err != nil {
		return nil, fmt.Errorf("http plugin %s: %w", c.url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", Accept)
	req.Header.Set("X-Pushagent-Job", job)
	req.Header.Set("X-Pushagent-Collector", collector)
	for k, v := range c.cfg.Headers {
		req.Header.Set(k, v.Reveal())
	}
	if c.cfg.BasicAuth != nil {
		req.SetBasicAuth(c.cfg.BasicAuth.Username, c.cfg.BasicAuth.Password.Reveal())
	}
	if c.cfg.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.BearerToken.Reveal())
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			if cause := context.Cause(ctx); cause != context.DeadlineExceeded && errors.Is(cause, context.DeadlineExceeded) {
				// The caller's deadline, with its reason.
				return nil, fmt.Errorf("http plugin %s: timed out after %v: %w", c.url, time.Since(start).Round(time.Millisecond), cause)
			}
			return nil, fmt.Errorf("http plugin %s: timed out after %v (raise the collector's timeout if it needs longer)", c.url, time.Since(start).Round(time.Millisecond))
		}
		return nil, fmt.Errorf("http plugin %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOutput+1))
	if err != nil {
		return nil, fmt.Errorf("http plugin %s: reading the answer: %w", c.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("http plugin %s answered %s: %s", c.url, resp.Status, excerpt(body))
	}
	if int64(len(body)) > maxOutput {
		return nil, fmt.Errorf("http plugin %s: answer exceeds max_output (%d bytes); raise max_output or make the endpoint answer less", c.url, maxOutput)
	}
	return body, nil
}

// excerpt keeps an error body short and printable.
func excerpt(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "…"
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	return s
}
