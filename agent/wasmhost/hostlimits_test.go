package wasmhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pushagent/pushagent/sdk/abi"
)

// One compiled plugin (a Go compile takes long under -race) for the
// two specs below.
func TestHTTPHostCallHeadersAndNames(t *testing.T) {
	p := httpPlugin(t)
	t.Run("headers count against max_response", func(t *testing.T) { testHeadersCount(t, p) })
	t.Run("one spelling of the host for check and dial", func(t *testing.T) { testNormalizesHost(t, p) })
}

// Response headers count against max_response, as the plugin receives
// them; the transport stops reading them at a quarter of it; and the
// result is not HTML-escaped, so a "<" is one byte, not six.
func testHeadersCount(t *testing.T, p *Plugin) {
	mux := http.NewServeMux()
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Huge", strings.Repeat("<", 6<<20))
	})
	mux.HandleFunc("/angles", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Angles", strings.Repeat("<", 900))
		fmt.Fprint(w, "body")
	})
	mux.HandleFunc("/obs-text", func(w http.ResponseWriter, r *http.Request) {
		// Bytes HTTP allows in a header and JSON writes as six (\ufffd):
		// 1000 on the wire, 6000 in the result.
		w.Header().Set("X-Obs", strings.Repeat("\xff", 1000))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	grant := func(maxResponse int64) HTTPGrant {
		return HTTPGrant{AllowHosts: []string{srv.Listener.Addr().String()}, MaxResponse: maxResponse}
	}
	req := func(path string) string { return fmt.Sprintf(`{"url":%q}`, srv.URL+path) }

	res := call(t, p, context.Background(), grant(4<<20), req("/huge"))
	if want := "response headers larger than a quarter of max_response (1048576 of 4194304 bytes)"; !strings.Contains(res[0].Error, want) {
		t.Errorf("6 MiB of headers with max_response 4 MiB: error %q, want %q (%d header values delivered)", res[0].Error, want, len(res[0].Headers["X-Huge"]))
	}
	// 900 bytes of headers fit a 6000-byte limit; the body gets the rest.
	out, err := p.Run(context.Background(), Request{Config: []byte("[" + req("/angles") + "]"), HTTP: grant(6000)})
	if err != nil {
		t.Fatal(err)
	}
	var r abi.HTTPResult
	if err := json.Unmarshal(out, &r); err != nil || r.Error != "" || string(r.Body) != "body" {
		t.Fatalf("headers within the limit: %+v, %v", r, err)
	}
	if !strings.Contains(string(out), strings.Repeat("<", 900)) {
		t.Errorf("the result escapes HTML (each < as six bytes):\n%.200s", out)
	}
	// They do not fit 3000: the transport reads no more than 750.
	res = call(t, p, context.Background(), grant(3000), req("/angles"))
	if want := "(750 of 3000 bytes)"; !strings.Contains(res[0].Error, want) {
		t.Errorf("900 bytes of header with max_response 3000: error %q, want %q", res[0].Error, want)
	}
	// Headers count as the plugin receives them, not as they came.
	res = call(t, p, context.Background(), grant(5000), req("/obs-text"))
	if want := "response headers larger than max_response (5000 bytes)"; !strings.Contains(res[0].Error, want) {
		t.Errorf("1000 bytes of header that encode as 6000, max_response 5000: error %q, want %q", res[0].Error, want)
	}
}

// jsonStringSize is never less than what encodeResult writes, whatever
// the bytes: the header count must bound the result.
func TestJSONStringSizeBoundsEncoding(t *testing.T) {
	for _, s := range []string{"", "plain", "<&>", "\"\\", "\x00\x01\n\t\b\f", "\xff\xfe", "é€😀", "\u2028\u2029", "a\xc3"} {
		b := encodeResult(abi.HTTPResult{Headers: map[string][]string{s: {s}}})
		only := encodeResult(abi.HTTPResult{})
		got := int64(len(b) - len(only) - len(`"headers":,`))
		if est := headersJSONSize(http.Header{s: {s}}); est < got {
			t.Errorf("%q: counted %d, encoded %d", s, est, got)
		}
	}
}

// A name in the allow-list is checked and dialed in one spelling: the
// trailing dot of "localhost." is dropped for both, so the request goes
// where the check looked (/etc/hosts), not to a DNS server.
func testNormalizesHost(t *testing.T, p *Plugin) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Host)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	res := call(t, p, context.Background(), HTTPGrant{AllowHosts: []string{"localhost:" + port}},
		`{"url":"http://LocalHost.:`+port+`/x"}`)
	want := "localhost:" + port
	if res[0].Error != "" || string(res[0].Body) != want || res[0].URL != "http://"+want+"/x" {
		t.Errorf("got error %q, Host %q, URL %q; want Host %q", res[0].Error, res[0].Body, res[0].URL, want)
	}
}

// The dialer never reaches a link-local address through a name, whatever
// DNS answers, and reaches one given as an address only when an entry
// names that address. Resolution and dialing are replaced: DNS answers
// with link-local addresses cannot be arranged on a test machine, and no
// test may send traffic outside 127.0.0.0/8.
func TestSandboxDialerRefusesLinkLocal(t *testing.T) {
	errDialed := errors.New("dialed")
	dns := map[string][]netip.Addr{
		"metadata.example":  {netip.MustParseAddr("169.254.169.254")},
		"rebind.example":    {netip.MustParseAddr("fe80::1"), netip.MustParseAddr("127.0.0.1")},
		"mapped.example":    {netip.MustParseAddr("::ffff:169.254.169.254")},
		"multicast.example": {netip.MustParseAddr("224.0.0.251")}, // not link-local unicast; multicast is refused by the kernel's own rules, not here
	}
	cases := []struct {
		allow []string
		addr  string
		want  string // the address dialed, or "" for refused
	}{
		{[]string{"metadata.example"}, "metadata.example:80", ""},
		{[]string{"rebind.example"}, "rebind.example:80", "127.0.0.1:80"},
		{[]string{"mapped.example"}, "mapped.example:80", ""},
		{[]string{"*.254"}, "169.254.169.254:80", ""},
		{[]string{"169.254.169.254"}, "169.254.169.254:80", "169.254.169.254:80"},
		{[]string{"169.254.169.254:80"}, "169.254.169.254:80", "169.254.169.254:80"},
		{[]string{"169.254.169.254:81"}, "169.254.169.254:80", ""},
		{[]string{"[fe80::1]:80"}, "[fe80::1]:80", "[fe80::1]:80"},
		{[]string{"::ffff:169.254.169.254"}, "169.254.169.254:80", "169.254.169.254:80"},
		{nil, "[fe80::1%eth0]:80", ""},
		{nil, "127.0.0.1:80", "127.0.0.1:80"},
	}
	for _, tc := range cases {
		var dialed string
		d := &sandboxDialer{
			lookup: func(_ context.Context, host string) ([]netip.Addr, error) { return dns[host], nil },
			dial: func(_ context.Context, _, addr string) (net.Conn, error) {
				dialed = addr
				return nil, errDialed
			},
		}
		ctx := withRunState(context.Background(), &runState{http: HTTPGrant{AllowHosts: tc.allow}})
		_, err := d.DialContext(ctx, "tcp", tc.addr)
		if dialed != tc.want {
			t.Errorf("allow %v, dial %s: dialed %q (err %v), want %q", tc.allow, tc.addr, dialed, err, tc.want)
		}
		if tc.want == "" && (err == nil || !strings.Contains(err.Error(), "link-local")) {
			t.Errorf("allow %v, dial %s: err = %v, want a link-local refusal", tc.allow, tc.addr, err)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://Example.COM./x":      "http://example.com/x",
		"https://example.com.:8443/": "https://example.com:8443/",
		"http://[::1]/":              "http://[::1]/",
		"http://[::1]:80/":           "http://[::1]:80/",
		"http://127.0.0.1:9/":        "http://127.0.0.1:9/",
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		normalizeURL(u)
		if u.String() != want {
			t.Errorf("normalizeURL(%s) = %s, want %s", in, u, want)
		}
	}
}

// readBody returns the body (one byte past the limit at most), and the
// error of a body cut short.
func TestReadBody(t *testing.T) {
	resp := func(body string, length int64, cut bool) *http.Response {
		var r io.Reader = strings.NewReader(body)
		if cut {
			r = io.MultiReader(r, iotest.ErrReader(io.ErrUnexpectedEOF))
		}
		return &http.Response{Body: io.NopCloser(r), ContentLength: length}
	}
	for _, tc := range []struct {
		body   string
		length int64
		cut    bool
		limit  int64
		want   string
		err    bool
	}{
		{"hello", 5, false, 10, "hello", false},
		{"hello", -1, false, 10, "hello", false},
		{"hello", 5, false, 5, "hello", false},
		{"hello world", -1, false, 5, "hello ", false},
		{"hello world", 11, false, 5, "hello ", false},
		{"", 0, false, 5, "", false},
		{"hel", 5, true, 10, "hel", true},
	} {
		got, err := readBody(resp(tc.body, tc.length, tc.cut), tc.limit)
		if string(got) != tc.want || (err != nil) != tc.err {
			t.Errorf("body %q, length %d, cut %v, limit %d: %q, %v; want %q (error %v)", tc.body, tc.length, tc.cut, tc.limit, got, err, tc.want, tc.err)
		}
	}
}
