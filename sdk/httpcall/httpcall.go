// Package httpcall lets a pushagent plugin make HTTP requests. A WASI
// preview 1 module has no sockets, so in wasm each request is handed to the
// agent through the pushagent_v1.http_request host call and the agent
// performs it; natively (go test, go run) it is made with net/http, so a
// plugin's tests run against httptest servers.
//
//	resp, err := httpcall.Get("http://127.0.0.1:8080/stats", map[string]string{"Accept": "application/json"})
//	if err != nil {
//		return err // e.g. Get "http://…": pushagent_v1.http_request: host … is not in the collector's allow_hosts […]
//	}
//	if resp.StatusCode != 200 {
//		return fmt.Errorf("status %s", resp.Status)
//	}
//	// use resp.Body
//
// What a plugin may reach is the agent's decision, not the plugin's: the
// collector's allow_hosts lists it, and by default nothing is allowed. The
// agent follows redirects (to allowed hosts only), verifies HTTPS against
// the system roots or the collector's CA, and bounds each call's time and
// response size. Status codes are not errors: a 404 is a Response.
//
// A call blocks the whole plugin in wasm, so calls run one at a time even
// from several goroutines. Only plugins that import this package import the
// host call; the others load on agents without it.
//
// In wasm it links no net/http and no crypto: the request and the result
// cross the ABI as JSON (package abi), which keeps a plugin small.
package httpcall

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pushagent/pushagent/sdk/abi"
)

// Request is one HTTP request.
type Request struct {
	// Method is the HTTP method, GET if empty. It is sent in upper case,
	// as the agent does.
	Method string
	// URL is an http or https URL. It must not carry credentials; send an
	// Authorization header instead.
	URL    string
	Header Header
	Body   []byte
	// Timeout bounds the call. Zero means the default: the agent's
	// per-call bound in wasm (the collector's timeout, 5s unless set),
	// 10s natively. The agent never lets a call outlive the run.
	Timeout time.Duration
}

// Response is the answer to a Request.
type Response struct {
	// StatusCode is the HTTP status code, such as 200.
	StatusCode int
	// Status is the code and its reason phrase, such as "200 OK".
	Status string
	// Header holds the response's headers under their canonical names
	// (Content-Type).
	Header Header
	// Body is the whole response body.
	Body []byte
	// URL is where the body came from: the request's URL, or where the
	// redirects led.
	URL string
	// TLS describes the connection of an HTTPS response, nil otherwise.
	TLS *TLS
}

// TLS is what the agent tells about an HTTPS connection: enough for a
// certificate expiry probe, and nothing else.
type TLS struct {
	// Version is the protocol version, such as "TLS 1.3".
	Version string
	// PeerNotAfter is each peer certificate's expiry, leaf first.
	PeerNotAfter []time.Time
}

// Header is a set of HTTP headers, keyed by canonical name.
type Header map[string][]string

// Get returns the first value of the header key, "" if there is none.
func (h Header) Get(key string) string {
	if vs := h[canonicalKey(key)]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Values returns all values of the header key.
func (h Header) Values(key string) []string { return h[canonicalKey(key)] }

// Set replaces the values of the header key with value.
func (h Header) Set(key, value string) { h[canonicalKey(key)] = []string{value} }

// Add adds value to the values of the header key.
func (h Header) Add(key, value string) {
	key = canonicalKey(key)
	h[key] = append(h[key], value)
}

// Error is a request that got no response: refused by the agent (a host
// not in allow_hosts, too many calls, a response larger than max_response),
// timed out, or failed to connect. Its text is that of net/http's errors:
//
//	Get "http://10.0.0.1/": pushagent_v1.http_request: host 10.0.0.1:80 is not in the collector's allow_hosts []
type Error struct {
	Method string
	URL    string
	Err    error
}

func (e *Error) Error() string {
	op := e.Method
	if len(op) > 1 {
		op = op[:1] + strings.ToLower(op[1:])
	}
	return op + " " + strconv.Quote(e.URL) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// nativeTimeout stands in for the agent's per-call bound when a plugin runs
// natively, so that a test against a hung server fails instead of hanging.
const nativeTimeout = 10 * time.Second

// maxRedirects is how many redirects the agent follows, and so natively too.
const maxRedirects = 10

// Do performs req. An error means there is no response (see Error); any
// status code, 4xx and 5xx included, is a Response.
func Do(req Request) (*Response, error) {
	req.Method = strings.ToUpper(req.Method)
	if req.Method == "" {
		req.Method = "GET"
	}
	switch {
	case req.URL == "":
		return nil, errors.New("httpcall: the request has no URL")
	case req.Timeout < 0:
		return nil, fmt.Errorf("httpcall: negative timeout %v", req.Timeout)
	}
	resp, err := do(req)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			err = &Error{Method: req.Method, URL: req.URL, Err: err}
		}
		return nil, err
	}
	return resp, nil
}

// Get performs a GET of url with the given headers.
func Get(url string, header map[string]string) (*Response, error) {
	req := Request{Method: "GET", URL: url}
	if len(header) > 0 {
		req.Header = make(Header, len(header))
		for k, v := range header {
			req.Header.Set(k, v)
		}
	}
	return Do(req)
}

// encodeRequest builds the http_request JSON for req.
func encodeRequest(req Request) ([]byte, error) {
	hr := abi.HTTPRequest{Method: req.Method, URL: req.URL, Body: req.Body}
	if len(req.Header) > 0 {
		hr.Headers = req.Header
	}
	if req.Timeout > 0 {
		// Round up: a timeout of 0 would mean "the host's default".
		hr.TimeoutMS = int64((req.Timeout + time.Millisecond - 1) / time.Millisecond)
	}
	return json.Marshal(hr)
}

// hostError is a failed request as the host reported it: host not allowed,
// timeout, DNS, response too large, redirect off the allow-list.
type hostError struct{ msg string }

func (e *hostError) Error() string { return "pushagent_v1.http_request: " + e.msg }

// decodeResult turns the http_result JSON into a response. Its input comes
// from the host, but it is checked like untrusted input: a malformed result
// is an error, never a panic or a half-filled response.
func decodeResult(b []byte) (*Response, error) {
	var res abi.HTTPResult
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("pushagent_v1.http_result: invalid result: %w", err)
	}
	if res.Error != "" {
		return nil, &hostError{msg: res.Error}
	}
	if res.Status < 100 || res.Status > 999 {
		return nil, fmt.Errorf("pushagent_v1.http_result: invalid status %d", res.Status)
	}
	resp := &Response{
		StatusCode: res.Status,
		Status:     statusLine(res.Status),
		Header:     make(Header, len(res.Headers)),
		Body:       res.Body,
		URL:        res.URL,
	}
	if resp.Body == nil {
		resp.Body = []byte{}
	}
	for k, vs := range res.Headers {
		k = canonicalKey(k)
		resp.Header[k] = append(resp.Header[k], vs...)
	}
	if res.TLS != nil {
		resp.TLS = &TLS{Version: res.TLS.Version}
		for _, s := range res.TLS.PeerNotAfter {
			resp.TLS.PeerNotAfter = append(resp.TLS.PeerNotAfter, time.Unix(s, 0).UTC())
		}
	}
	return resp, nil
}

// statusLine is net/http's Response.Status for code: "404 Not Found".
func statusLine(code int) string {
	if text := statusText(code); text != "" {
		return strconv.Itoa(code) + " " + text
	}
	return strconv.Itoa(code)
}

// statusText is the reason phrase of the registered status codes, spelled
// as net/http spells them, so that messages do not change between the wasm
// and the native form of a plugin.
func statusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 101:
		return "Switching Protocols"
	case 102:
		return "Processing"
	case 103:
		return "Early Hints"
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 203:
		return "Non-Authoritative Information"
	case 204:
		return "No Content"
	case 205:
		return "Reset Content"
	case 206:
		return "Partial Content"
	case 207:
		return "Multi-Status"
	case 208:
		return "Already Reported"
	case 226:
		return "IM Used"
	case 300:
		return "Multiple Choices"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 303:
		return "See Other"
	case 304:
		return "Not Modified"
	case 305:
		return "Use Proxy"
	case 307:
		return "Temporary Redirect"
	case 308:
		return "Permanent Redirect"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 402:
		return "Payment Required"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 406:
		return "Not Acceptable"
	case 407:
		return "Proxy Authentication Required"
	case 408:
		return "Request Timeout"
	case 409:
		return "Conflict"
	case 410:
		return "Gone"
	case 411:
		return "Length Required"
	case 412:
		return "Precondition Failed"
	case 413:
		return "Request Entity Too Large"
	case 414:
		return "Request URI Too Long"
	case 415:
		return "Unsupported Media Type"
	case 416:
		return "Requested Range Not Satisfiable"
	case 417:
		return "Expectation Failed"
	case 418:
		return "I'm a teapot"
	case 421:
		return "Misdirected Request"
	case 422:
		return "Unprocessable Entity"
	case 423:
		return "Locked"
	case 424:
		return "Failed Dependency"
	case 425:
		return "Too Early"
	case 426:
		return "Upgrade Required"
	case 428:
		return "Precondition Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 451:
		return "Unavailable For Legal Reasons"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	case 506:
		return "Variant Also Negotiates"
	case 507:
		return "Insufficient Storage"
	case 508:
		return "Loop Detected"
	case 510:
		return "Not Extended"
	case 511:
		return "Network Authentication Required"
	}
	return ""
}

// canonicalKey spells a header name as net/http does: "content-type"
// becomes "Content-Type". A name with a byte that no header name may hold
// is left as it is.
func canonicalKey(s string) string {
	upper, change := true, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isTokenByte(c) {
			return s
		}
		change = change || upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z'
		upper = c == '-'
	}
	if !change {
		return s
	}
	return canonicalize(s)
}

func canonicalize(s string) string {
	b := []byte(s)
	upper := true
	for i, c := range b {
		switch {
		case upper && 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case !upper && 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return string(b)
}

// isTokenByte reports whether c may appear in a header name (RFC 9110
// token characters).
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
