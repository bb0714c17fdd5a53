// Command httpprobe is a pushagent plugin that checks an HTTP endpoint the
// way blackbox_exporter's http module does: one request, then whether the
// status and body were as expected, how long it took and, for HTTPS, when
// the certificate expires.
//
// A failed probe is a result, not an error: the run succeeds and reports
// probe_success 0, with the reason in the log. Only a broken config fails
// the run. The plugin reaches only what the collector's allow_hosts grants,
// through the agent's HTTP host call.
package main

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pushagent/pushagent/sdk"
	"github.com/pushagent/pushagent/sdk/httpcall"
)

type config struct {
	// URL is the endpoint to probe.
	URL string `json:"url"`
	// Method is the request method. Default GET.
	Method string `json:"method"`
	// Headers are sent with the request.
	Headers map[string]string `json:"headers"`
	// Body is sent as the request body.
	Body string `json:"body"`
	// ValidStatusCodes are the statuses that count as success. Default:
	// any 2xx.
	ValidStatusCodes []int `json:"valid_status_codes"`
	// ExpectBodyRegex, if set, must match somewhere in the response body
	// (RE2).
	ExpectBodyRegex string `json:"expect_body_regex"`
	// Timeout bounds the probe, a Go duration. Default 4s: below the
	// collector's default timeout of 5s, so that a hung endpoint is
	// reported as a failed probe rather than killing the run.
	Timeout string `json:"timeout"`
}

const defaultTimeout = 4 * time.Second

// now is the plugin's clock. It is a variable only so that the golden test
// can make probe_duration_seconds exact; nothing else changes it.
var now = time.Now

func init() { sdk.Register(collect) }

func main() { sdk.Main() }

func collect(c *sdk.Collection) error {
	cfg := config{Method: "GET"}
	if err := c.DecodeConfig(&cfg); err != nil {
		return err
	}
	p, err := cfg.check()
	if err != nil {
		return err
	}
	r := p.run()
	if r.err != nil {
		c.Logger().Warn("probe failed", "url", cfg.URL, "err", r.err)
	}
	success := 0.0
	if r.err == nil {
		success = 1
	}
	c.Gauge("probe_success", "Whether the probe succeeded.").Set(success)
	c.Gauge("probe_duration_seconds", "How long the probe took, in seconds.").Set(r.duration.Seconds())
	c.Gauge("probe_http_status_code", "Response HTTP status code, 0 if there was no response.").Set(float64(r.status))
	c.Gauge("probe_http_content_length", "Length of the response body read, in bytes.").Set(float64(r.length))
	if !r.certExpiry.IsZero() {
		c.Gauge("probe_ssl_earliest_cert_expiry", "Earliest NotAfter of the certificates the server sent, in unixtime.").
			Set(float64(r.certExpiry.Unix()))
	}
	return nil
}

// probe is a checked config.
type probe struct {
	cfg     config
	timeout time.Duration
	re      *regexp.Regexp
}

// check validates the config, reporting every problem at once.
func (cfg config) check() (*probe, error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf("config: "+format, args...)) }
	cfg.Method = strings.ToUpper(cfg.Method)
	if cfg.Method == "" {
		cfg.Method = "GET"
	}
	p := &probe{cfg: cfg, timeout: defaultTimeout}
	if cfg.URL == "" {
		fail(`"url" is required`)
	} else if err := checkRequest(cfg.Method, cfg.URL); err != nil {
		fail("url or method: %v", err)
	}
	for i, code := range cfg.ValidStatusCodes {
		if code < 100 || code > 999 {
			fail("valid_status_codes[%d]: %d is not an HTTP status", i, code)
		}
	}
	if cfg.ExpectBodyRegex != "" {
		re, err := regexp.Compile(cfg.ExpectBodyRegex)
		if err != nil {
			fail("expect_body_regex: %v", err)
		}
		p.re = re
	}
	if cfg.Timeout != "" {
		d, err := time.ParseDuration(cfg.Timeout)
		switch {
		case err != nil:
			fail("timeout: %v", err)
		case d <= 0:
			fail("timeout: must be positive, got %s", cfg.Timeout)
		}
		p.timeout = d
	}
	return p, errors.Join(errs...)
}

// result is what one probe found; err says why it failed, nil if it did not.
type result struct {
	err        error
	duration   time.Duration
	status     int
	length     int
	certExpiry time.Time
}

func (p *probe) run() (r result) {
	start := now()
	defer func() { r.duration = now().Sub(start) }()
	req := httpcall.Request{Method: p.cfg.Method, URL: p.cfg.URL, Timeout: p.timeout}
	if p.cfg.Body != "" {
		req.Body = []byte(p.cfg.Body)
	}
	if len(p.cfg.Headers) > 0 {
		req.Header = make(httpcall.Header, len(p.cfg.Headers))
		for k, v := range p.cfg.Headers {
			req.Header.Set(k, v)
		}
	}
	resp, err := httpcall.Do(req)
	if err != nil {
		r.err = err
		return r
	}
	r.status = resp.StatusCode
	if resp.TLS != nil {
		for _, notAfter := range resp.TLS.PeerNotAfter {
			if r.certExpiry.IsZero() || notAfter.Before(r.certExpiry) {
				r.certExpiry = notAfter
			}
		}
	}
	r.length = len(resp.Body)
	switch {
	case !p.validStatus(resp.StatusCode):
		r.err = fmt.Errorf("status %s is not a valid status code", resp.Status)
	case p.re != nil && !p.re.Match(resp.Body):
		r.err = fmt.Errorf("body does not match expect_body_regex %q", p.cfg.ExpectBodyRegex)
	}
	return r
}

func (p *probe) validStatus(code int) bool {
	if len(p.cfg.ValidStatusCodes) == 0 {
		return code >= 200 && code <= 299
	}
	return slices.Contains(p.cfg.ValidStatusCodes, code)
}

// checkRequest refuses a method net/http would not send and a URL the
// agent would never fetch, so that a typo there is a config error that
// fails the run rather than a failed probe that looks like an outage. The
// URL is checked for its form only (net/url would add 0.2 MB to the
// module); the agent parses it in full and reports anything else as a
// failed probe.
func checkRequest(method, rawURL string) error {
	for i := 0; i < len(method); i++ {
		if !isTokenByte(method[i]) {
			return fmt.Errorf("invalid method %q", method)
		}
	}
	for i := 0; i < len(rawURL); i++ {
		if c := rawURL[i]; c < ' ' || c == 0x7f {
			return fmt.Errorf("url %q: invalid control character in URL", rawURL)
		}
	}
	scheme, rest, _ := strings.Cut(rawURL, "://")
	if !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") {
		return fmt.Errorf("url %q: only http and https are allowed", rawURL)
	}
	host := rest
	if end := strings.IndexAny(host, "/?#"); end >= 0 {
		host = host[:end]
	}
	switch {
	case host == "" || host[0] == ':':
		return fmt.Errorf("url %q has no host", rawURL)
	case strings.Contains(host, " "):
		return fmt.Errorf("url %q: invalid character \" \" in host name", rawURL)
	}
	return nil
}

// isTokenByte reports whether c may appear in a method (an RFC 9110
// token).
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
