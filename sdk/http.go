package sdk

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"time"
)

// HTTP in a plugin goes through the host: WASI preview 1 has no sockets, so
// in wasm the client's RoundTripper serialises each request to JSON, hands it
// to the pushagent_v1.http_request host call and turns the JSON result back
// into an *http.Response. The host decides what may be reached (the
// collector's allow_hosts), follows redirects, bounds the time and the
// response size, and verifies TLS. The conversion below is plain code so
// that it is tested natively; only the call itself is wasm-only.

// httpRequest is the JSON handed to pushagent_v1.http_request
// (docs/plugin-abi.md). Body is base64 in JSON, as encoding/json does for
// []byte.
type httpRequest struct {
	Method    string              `json:"method"`
	URL       string              `json:"url"`
	Headers   map[string][]string `json:"headers,omitempty"`
	Body      []byte              `json:"body,omitempty"`
	TimeoutMS int64               `json:"timeout_ms,omitempty"`
}

// httpResult is the JSON pushagent_v1.http_result hands back. Unknown fields
// are ignored, so that a newer host can add some.
type httpResult struct {
	Status  int                 `json:"status"`
	Headers map[string][]string `json:"headers"`
	Body    []byte              `json:"body"`
	URL     string              `json:"url"`
	TLS     *httpTLS            `json:"tls"`
	Error   string              `json:"error"`
}

type httpTLS struct {
	Version      string  `json:"version"`
	PeerNotAfter []int64 `json:"peer_not_after"`
}

// hostTransport is the RoundTripper of the wasm HTTP client. call performs
// one host call: JSON request in, JSON result out.
type hostTransport struct {
	call func(request []byte) ([]byte, error)
}

// RoundTrip implements http.RoundTripper. The host call blocks the whole
// guest, so a context cancelled during the call is only noticed afterwards;
// a deadline is passed to the host as timeout_ms instead, which the host
// enforces.
func (t hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close() // a RoundTripper must close the body, even on errors
	}
	b, err := encodeRequest(req, time.Now())
	if err != nil {
		return nil, err
	}
	res, err := t.call(b)
	if err != nil {
		return nil, err
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	return decodeResult(res, req)
}

// encodeRequest builds the http_request JSON for req. now is when the call
// is made: a context deadline becomes the remaining time in timeout_ms.
func encodeRequest(req *http.Request, now time.Time) ([]byte, error) {
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req.URL == nil {
		return nil, errors.New("http: nil Request.URL")
	}
	hr := httpRequest{Method: req.Method, URL: req.URL.String()}
	if hr.Method == "" {
		hr.Method = http.MethodGet
	}
	if len(req.Header) > 0 {
		hr.Headers = map[string][]string(req.Header.Clone())
	}
	if req.Host != "" && req.Host != req.URL.Host {
		// Kept for a host that honours it; the allow-list still judges
		// the URL's host, not this header.
		if hr.Headers == nil {
			hr.Headers = map[string][]string{}
		}
		hr.Headers["Host"] = []string{req.Host}
	}
	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, fmt.Errorf("reading the request body: %w", err)
		}
		hr.Body = body
	}
	if deadline, ok := ctx.Deadline(); ok {
		left := deadline.Sub(now)
		if left <= 0 {
			return nil, context.DeadlineExceeded
		}
		// Round up: a timeout of 0 would mean "the host's default".
		hr.TimeoutMS = int64(math.Ceil(float64(left) / float64(time.Millisecond)))
	}
	return json.Marshal(hr)
}

// hostError is a failed request as the host reported it: host not allowed,
// timeout, DNS, response too large, redirect off the allow-list.
type hostError struct{ msg string }

func (e *hostError) Error() string { return "pushagent_v1.http_request: " + e.msg }

// decodeResult turns the http_result JSON into the response to req. Its
// input comes from the host, but it is checked like untrusted input: a
// malformed result is an error, never a panic or a half-filled response.
func decodeResult(b []byte, req *http.Request) (*http.Response, error) {
	var res httpResult
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("pushagent_v1.http_result: invalid result: %w", err)
	}
	if res.Error != "" {
		return nil, &hostError{msg: res.Error}
	}
	if res.Status < 100 || res.Status > 999 {
		return nil, fmt.Errorf("pushagent_v1.http_result: invalid status %d", res.Status)
	}
	header := http.Header{}
	for k, vs := range res.Headers {
		for _, v := range vs {
			header.Add(k, v)
		}
	}
	resp := &http.Response{
		Status:        fmt.Sprintf("%d %s", res.Status, http.StatusText(res.Status)),
		StatusCode:    res.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          io.NopCloser(bytes.NewReader(res.Body)),
		ContentLength: int64(len(res.Body)),
		Request:       req,
	}
	// The host followed any redirects: like net/http, Request is the last
	// request made, so resp.Request.URL is where the body came from.
	if res.URL != "" && req != nil && req.URL != nil && res.URL != req.URL.String() {
		if u, err := url.Parse(res.URL); err == nil {
			last := req.Clone(req.Context())
			last.URL, last.Host = u, u.Host
			resp.Request = last
		}
	}
	if res.TLS != nil {
		state := &tls.ConnectionState{
			Version:           tlsVersion(res.TLS.Version),
			HandshakeComplete: true,
		}
		for _, notAfter := range res.TLS.PeerNotAfter {
			// Only the expiry crosses the ABI; the rest of each
			// certificate is left empty.
			state.PeerCertificates = append(state.PeerCertificates, &x509.Certificate{NotAfter: time.Unix(notAfter, 0).UTC()})
		}
		resp.TLS = state
	}
	return resp, nil
}

// tlsVersion maps tls.VersionName's text back to the constant, 0 if unknown.
func tlsVersion(name string) uint16 {
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12, tls.VersionTLS11, tls.VersionTLS10} {
		if tls.VersionName(v) == name {
			return v
		}
	}
	return 0
}

// newHostClient is the wasm HTTP client over call.
func newHostClient(call func([]byte) ([]byte, error)) *http.Client {
	return &http.Client{
		Transport: hostTransport{call: call},
		// The host already followed redirects (to allowed hosts only);
		// a redirect status that reaches the guest is final.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
