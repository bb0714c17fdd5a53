package wasmhost

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/pushagent/pushagent/agent/config"
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
	// A name entry trusts DNS: the call goes wherever the name resolves,
	// except to a link-local address (169.254.0.0/16, fe80::/10: the
	// cloud metadata services), which only an entry naming that address
	// itself reaches.
	AllowHosts []string
	// CAFile, when set, is the PEM bundle HTTPS servers are verified
	// against instead of the system roots.
	CAFile string
	// MaxResponse bounds a response: its headers (as the plugin receives
	// them, JSON-encoded) and its body together, so that a plugin cannot
	// make the agent buffer an endless body, nor a server make it buffer
	// endless headers. 0: [config.DefaultMaxResponse].
	MaxResponse int64
	// Timeout bounds one call; the run's deadline bounds it too. Default 5s.
	Timeout time.Duration
	// MaxCalls bounds the calls of one run. Default 64, so a plugin stuck in
	// a loop of requests cannot hammer a service until its deadline.
	MaxCalls int
}

const (
	defaultHTTPTimeout = 5 * time.Second
	defaultMaxCalls    = 64
	maxRequestJSON     = 1 << 20
	maxRedirects       = 10
)

func (g HTTPGrant) withDefaults() HTTPGrant {
	if g.MaxResponse <= 0 {
		g.MaxResponse = config.DefaultMaxResponse
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

// normalizeHost is the one spelling of a host name that both the
// allow-list check and the dial see: lower case, without the trailing dot
// of a fully qualified name. Checking one spelling and dialing another
// would let them disagree: "localhost." passed the check as "localhost"
// and then went to the upstream DNS server instead of /etc/hosts.
func normalizeHost(h string) string {
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// normalizeURL rewrites u's host to its normalized spelling, so the
// request dials exactly the host the allow-list was checked against. A
// port left out stays left out, so the Host header stays as a server
// expects it.
func normalizeURL(u *url.URL) {
	host := normalizeHost(u.Hostname())
	switch {
	case u.Port() != "":
		u.Host = net.JoinHostPort(host, u.Port())
	case strings.Contains(host, ":"):
		u.Host = "[" + host + "]"
	default:
		u.Host = host
	}
}

// allowEntries splits the allow-list's entries into host and port ("" for
// any port), normalized as request hosts are.
func allowEntries(list []string) [][2]string {
	out := make([][2]string, 0, len(list))
	for _, entry := range list {
		eh, ep := entry, ""
		if h, p, err := net.SplitHostPort(eh); err == nil {
			eh, ep = h, p
		}
		out = append(out, [2]string{normalizeHost(strings.Trim(eh, "[]")), ep})
	}
	return out
}

// hostAllowed reports whether u's host and port match the allow-list. A
// wildcard matches names only: "*.254" is no way to allow 169.254.169.254,
// so an address passes only an entry that names it, which is what lets
// the dialer (and a connection kept from an earlier call) trust that.
func hostAllowed(list []string, u *url.URL) bool {
	host := normalizeHost(u.Hostname())
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	_, ipErr := netip.ParseAddr(host)
	for _, e := range allowEntries(list) {
		eh, ep := e[0], e[1]
		if ep != "" && ep != port {
			continue
		}
		if suffix, ok := strings.CutPrefix(eh, "*"); ok && strings.HasPrefix(suffix, ".") {
			if ipErr != nil && strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
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

// linkLocal reports whether ip is link-local (169.254.0.0/16, fe80::/10,
// and their multicast ranges), IPv4-mapped spellings included.
func linkLocal(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast()
}

// namesAddress reports whether an allow-list entry names ip itself (not a
// name that resolves to it) for port.
func namesAddress(list []string, ip netip.Addr, port string) bool {
	ip = ip.Unmap().WithZone("")
	for _, e := range allowEntries(list) {
		a, err := netip.ParseAddr(e[0])
		if err == nil && a.Unmap().WithZone("") == ip && (e[1] == "" || e[1] == port) {
			return true
		}
	}
	return false
}

// sandboxDialer is the transports' dialer. The allow-list check before a
// request compares names; this is where a name becomes addresses, so this
// is where the addresses no name may reach are refused: link-local ones,
// unless an entry of the run's allow-list names the address itself. It
// resolves the name once and dials the addresses it checked, so a DNS
// answer that changes between check and dial changes nothing.
type sandboxDialer struct {
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
}

func newSandboxDialer() *sandboxDialer {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &sandboxDialer{
		lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		},
		dial: d.DialContext,
	}
}

func (d *sandboxDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	host = normalizeHost(host)
	allow := stateFrom(ctx).http.AllowHosts
	if ip, err := netip.ParseAddr(host); err == nil {
		if linkLocal(ip) && !namesAddress(allow, ip, port) {
			return nil, fmt.Errorf("%s is a link-local address, which only an allow_hosts entry naming it reaches", host)
		}
		return d.dial(ctx, network, addr)
	}
	ips, err := d.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	var refused []string
	var lastErr error
	for _, ip := range ips {
		if linkLocal(ip) {
			refused = append(refused, ip.String())
			continue
		}
		conn, err := d.dial(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		lastErr = err
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, fmt.Errorf("%s resolves only to link-local addresses (%s), which a name in allow_hosts never reaches: name the address itself to allow it", host, strings.Join(refused, ", "))
}

// headerLimit is how much of a response's header block the transport
// reads, for a max_response of maxResponse.
func headerLimit(maxResponse int64) int64 { return max(maxResponse/4, 1) }

// transportKey picks a shared transport: the CA file, and the response
// limit the transport's header limit comes from.
type transportKey struct {
	caFile      string
	maxResponse int64
}

// transports are shared per CA file and response limit, so runs reuse
// connections.
type transports struct {
	mu sync.Mutex
	m  map[transportKey]*http.Transport
}

func (t *transports) get(caFile string, maxResponse int64) (*http.Transport, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := transportKey{caFile, maxResponse}
	if tr, ok := t.m[key]; ok {
		return tr, nil
	}
	// The CA file means what it means for every other client of the
	// agent (and in Prometheus' tls_config): it replaces the system roots.
	tlsCfg, err := config.TLS{CAFile: caFile}.ClientConfig()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		// No proxy from the agent's environment: the sandbox decides
		// where a plugin connects, nothing else.
		Proxy:       nil,
		DialContext: newSandboxDialer().DialContext,
		// The transport stops reading headers at a quarter of
		// max_response (1 MiB by default), before holding them: Go's
		// default reads 10 MiB whatever the collector's limit, and its
		// header parser holds two to three times what it reads, so a
		// quarter keeps a hostile server's headers within one
		// max_response of memory per call. No real server sends a
		// header block near that size.
		MaxResponseHeaderBytes: headerLimit(maxResponse),
		TLSClientConfig:        tlsCfg,
		TLSHandshakeTimeout:    5 * time.Second,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  0, // the call's context bounds it
	}
	if t.m == nil {
		t.m = map[transportKey]*http.Transport{}
	}
	t.m[key] = tr
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
	normalizeURL(u)
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
	tr, err := st.transports.get(g.CAFile, g.MaxResponse)
	if err != nil {
		return abi.HTTPResult{Error: err.Error()}
	}
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			normalizeURL(r.URL)
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
		if strings.Contains(err.Error(), "server response headers exceeded") {
			return abi.HTTPResult{Error: fmt.Sprintf("%s %s: response headers larger than a quarter of max_response (%d of %d bytes)", req.Method, u.Redacted(), headerLimit(g.MaxResponse), g.MaxResponse)}
		}
		return abi.HTTPResult{Error: err.Error()}
	}
	defer resp.Body.Close()
	// The headers count against max_response as the plugin receives them,
	// JSON-encoded, so that no spelling of them (bytes JSON escapes as
	// six) makes the result larger than the limit says.
	hdr := headersJSONSize(resp.Header)
	if hdr > g.MaxResponse {
		return abi.HTTPResult{Error: fmt.Sprintf("%s %s: response headers larger than max_response (%d bytes)", req.Method, u.Redacted(), g.MaxResponse)}
	}
	body, err := readBody(resp, g.MaxResponse-hdr)
	if err != nil {
		return abi.HTTPResult{Error: fmt.Sprintf("%s %s: reading the response: %v", req.Method, u.Redacted(), err)}
	}
	if int64(len(body)) > g.MaxResponse-hdr {
		return abi.HTTPResult{Error: fmt.Sprintf("%s %s: response larger than max_response (%d bytes): %d bytes of headers and more than %d of body", req.Method, u.Redacted(), g.MaxResponse, hdr, g.MaxResponse-hdr)}
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

// readBody reads at most limit+1 bytes of resp's body (one more than
// allowed, to tell a body at the limit from a longer one). A body whose
// length the server announced is read into a buffer of that size, not
// grown by doubling, so a call holds the body once, not its copies too.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	r := io.LimitReader(resp.Body, limit+1)
	n := resp.ContentLength
	if n < 0 || n > limit {
		return io.ReadAll(r)
	}
	buf := make([]byte, 0, n+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err // a body shorter than announced included
		}
	}
}

// headersJSONSize is the size of h in the host call's result: each name
// and value as a JSON string, with the quotes, colons, brackets and commas
// around them.
func headersJSONSize(h http.Header) int64 {
	n := int64(2) // {}
	for k, vs := range h {
		n += jsonStringSize(k) + 4 // "k":[] and a comma
		for _, v := range vs {
			n += jsonStringSize(v) + 1
		}
	}
	return n
}

// jsonStringSize is the length of s as a JSON string, quotes included,
// encoded as encodeResult encodes it (no HTML escaping).
func jsonStringSize(s string) int64 {
	n := int64(2)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6 // \ufffd
		case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
			n += 2
		case r < 0x20 || r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += int64(size)
		}
		i += size
	}
	return n
}

// encodeResult encodes a host call's result for the plugin. Without HTML
// escaping: a plugin is no browser, and escaping turns each <, > and & of
// a response into six bytes.
func encodeResult(res abi.HTTPResult) []byte {
	// Sized up front (headers as counted, the body in base64, a margin
	// for the rest), so the result is not grown by doubling.
	var b bytes.Buffer
	b.Grow(int(headersJSONSize(res.Headers)) + base64.StdEncoding.EncodedLen(len(res.Body)) + len(res.URL) + len(res.Error) + 512)
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		b.Reset()
		_ = enc.Encode(abi.HTTPResult{Error: "encoding the result: " + err.Error()})
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
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
	b := encodeResult(res)
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
