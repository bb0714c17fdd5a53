package wasmhost

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/pushagent/pushagent/sdk/abi"
)

// HTTPGrant is what a run may reach through the http_request host call.
// The zero value grants nothing: with no allowed hosts every request is
// refused, because a plugin must not reach the network unless its config
// says so.
type HTTPGrant struct {
	// AllowHosts lists who may be asked: "host:port" (that port only),
	// "host" (any port), "*.example.com" (any subdomain, not example.com
	// itself) and "*.example.com:443". Redirects must stay on the list.
	AllowHosts []string
	// CAFile adds a PEM root to the system roots for HTTPS.
	CAFile string
	// MaxResponse bounds a response body. Default 4 MiB: a plugin cannot
	// make the agent buffer an endless body.
	MaxResponse int64
	// Timeout bounds one call; the run's deadline bounds it too. Default 5s.
	Timeout time.Duration
	// MaxCalls bounds the calls of one run. Default 64, so a plugin stuck in
	// a loop of requests cannot hammer a service until its deadline.
	MaxCalls int
}

const (
	defaultMaxResponse = 4 << 20
	defaultHTTPTimeout = 5 * time.Second
	defaultMaxCalls    = 64
	maxRequestJSON     = 1 << 20
	maxRedirects       = 10
)

func (g HTTPGrant) withDefaults() HTTPGrant {
	if g.MaxResponse <= 0 {
		g.MaxResponse = defaultMaxResponse
	}
	if g.Timeout <= 0 {
		g.Timeout = defaultHTTPTimeout
	}
	if g.MaxCalls <= 0 {
		g.MaxCalls = defaultMaxCalls
	}
	return g
}

// parseHTTPRequest checks a plugin's request. Its input is untrusted.
func parseHTTPRequest(b []byte) (abi.HTTPRequest, *url.URL, error) {
	var req abi.HTTPRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return req, nil, fmt.Errorf("request is not valid JSON: %w", err)
	}
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	req.Method = strings.ToUpper(req.Method)
	for _, c := range req.Method {
		if c < 'A' || c > 'Z' {
			return req, nil, fmt.Errorf("method %q is not valid", req.Method)
		}
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return req, nil, fmt.Errorf("url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return req, nil, fmt.Errorf("url %q: only http and https are allowed", req.URL)
	}
	if u.Hostname() == "" {
		return req, nil, fmt.Errorf("url %q has no host", req.URL)
	}
	if u.User != nil {
		return req, nil, errors.New("url must not carry credentials; send an Authorization header")
	}
	return req, u, nil
}

// hostAllowed reports whether u's host and port match the allow-list.
func hostAllowed(list []string, u *url.URL) bool {
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, entry := range list {
		eh, ep := strings.ToLower(entry), ""
		if h, p, err := net.SplitHostPort(eh); err == nil {
			eh, ep = h, p
		}
		eh = strings.Trim(eh, "[]")
		if ep != "" && ep != port {
			continue
		}
		if suffix, ok := strings.CutPrefix(eh, "*"); ok && strings.HasPrefix(suffix, ".") {
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				return true
			}
			continue
		}
		if eh == host {
			return true
		}
	}
	return false
}

// transports are shared per CA file so runs reuse connections.
type transports struct {
	mu sync.Mutex
	m  map[string]*http.Transport
}

func (t *transports) get(caFile string) (*http.Transport, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr, ok := t.m[caFile]; ok {
		return tr, nil
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
		}
		tlsCfg.RootCAs = pool
	}
	tr := &http.Transport{
		// No proxy from the agent's environment: the sandbox decides
		// where a plugin connects, nothing else.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   5 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0, // the call's context bounds it
	}
	if t.m == nil {
		t.m = map[string]*http.Transport{}
	}
	t.m[caFile] = tr
	return tr, nil
}

func (t *transports) closeIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tr := range t.m {
		tr.CloseIdleConnections()
	}
}

// doHTTP performs one host call for the run described by st.
func (st *runState) doHTTP(ctx context.Context, reqJSON []byte) abi.HTTPResult {
	g := st.http
	st.httpCalls++
	if st.httpCalls > g.MaxCalls {
		return abi.HTTPResult{Error: fmt.Sprintf("more than %d HTTP calls in one run", g.MaxCalls)}
	}
	req, u, err := parseHTTPRequest(reqJSON)
	if err != nil {
		return abi.HTTPResult{Error: err.Error()}
	}
	if !hostAllowed(g.AllowHosts, u) {
		return abi.HTTPResult{Error: fmt.Sprintf("host %s is not in the collector's allow_hosts %v", u.Host, g.AllowHosts)}
	}
	timeout := g.Timeout
	if req.TimeoutMS > 0 && time.Duration(req.TimeoutMS)*time.Millisecond < timeout {
		timeout = time.Duration(req.TimeoutMS) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, req.Method, u.String(), bytes.NewReader(req.Body))
	if err != nil {
		return abi.HTTPResult{Error: err.Error()}
	}
	for k, vs := range req.Headers {
		for _, v := range vs {
			hreq.Header.Add(k, v)
		}
	}
	tr, err := st.transports.get(g.CAFile)
	if err != nil {
		return abi.HTTPResult{Error: err.Error()}
	}
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			if !hostAllowed(g.AllowHosts, r.URL) {
				return fmt.Errorf("redirect to %s: host is not in the collector's allow_hosts %v", r.URL.Host, g.AllowHosts)
			}
			return nil
		},
	}
	start := time.Now()
	resp, err := client.Do(hreq)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			return abi.HTTPResult{Error: fmt.Sprintf("%s %s: timed out after %v", req.Method, u.Redacted(), time.Since(start).Round(time.Millisecond))}
		}
		return abi.HTTPResult{Error: err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, g.MaxResponse+1))
	if err != nil {
		return abi.HTTPResult{Error: fmt.Sprintf("%s %s: reading the response: %v", req.Method, u.Redacted(), err)}
	}
	if int64(len(body)) > g.MaxResponse {
		return abi.HTTPResult{Error: fmt.Sprintf("%s %s: response larger than max_response (%d bytes)", req.Method, u.Redacted(), g.MaxResponse)}
	}
	res := abi.HTTPResult{Status: resp.StatusCode, Headers: resp.Header, Body: body, URL: resp.Request.URL.String()}
	if resp.TLS != nil {
		t := &abi.HTTPTLS{Version: tls.VersionName(resp.TLS.Version)}
		for _, c := range resp.TLS.PeerCertificates {
			t.PeerNotAfter = append(t.PeerNotAfter, c.NotAfter.Unix())
		}
		res.TLS = t
	}
	return res
}

// hostHTTPRequest implements http_request(req_ptr, req_len) -> i32.
func hostHTTPRequest(ctx context.Context, mod api.Module, stack []uint64) {
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	st := stateFrom(ctx)
	if n > maxRequestJSON {
		stack[0] = api.EncodeI32(-1)
		return
	}
	reqJSON, ok := mod.Memory().Read(ptr, n)
	if !ok {
		stack[0] = api.EncodeI32(-1)
		return
	}
	res := st.doHTTP(ctx, bytes.Clone(reqJSON))
	if res.Error != "" {
		st.logger.Warn("plugin HTTP call failed", "err", res.Error)
	}
	b, err := json.Marshal(res)
	if err != nil {
		b, _ = json.Marshal(abi.HTTPResult{Error: "encoding the result: " + err.Error()})
	}
	st.pending = b
	stack[0] = api.EncodeI32(int32(len(b)))
}

// hostHTTPResult implements http_result(buf_ptr, buf_len) -> i32.
func hostHTTPResult(ctx context.Context, mod api.Module, stack []uint64) {
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	st := stateFrom(ctx)
	if st.pending == nil {
		stack[0] = api.EncodeI32(-1)
		return
	}
	b := st.pending
	if uint32(len(b)) > n {
		b = b[:n]
	}
	if !mod.Memory().Write(ptr, b) {
		stack[0] = api.EncodeI32(-1)
		return
	}
	st.pending = nil
	stack[0] = api.EncodeI32(int32(len(b)))
}
