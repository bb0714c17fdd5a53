package wasmhost

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
	"github.com/pushagent/pushagent/sdk/abi"
)

func TestHostAllowed(t *testing.T) {
	cases := []struct {
		list []string
		url  string
		want bool
	}{
		{[]string{"127.0.0.1:8080"}, "http://127.0.0.1:8080/x", true},
		{[]string{"127.0.0.1:8080"}, "http://127.0.0.1:8081/x", false},
		{[]string{"127.0.0.1"}, "http://127.0.0.1:9/x", true},
		{[]string{"example.com"}, "https://EXAMPLE.com./", true},
		{[]string{"example.com:443"}, "https://example.com/", true},
		{[]string{"example.com:443"}, "http://example.com/", false},
		{[]string{"*.example.com"}, "https://a.b.example.com/", true},
		{[]string{"*.example.com"}, "https://example.com/", false},
		{[]string{"*.example.com"}, "https://badexample.com/", false},
		{[]string{"*.example.com:8443"}, "https://a.example.com:8443/", true},
		{[]string{"*.example.com:8443"}, "https://a.example.com/", false},
		{[]string{"[::1]:80"}, "http://[::1]/", true},
		{[]string{"*.254"}, "http://169.254.169.254/", false}, // wildcards match names, not addresses
		{[]string{"*.1"}, "http://[::1]/", false},
		{[]string{"localhost"}, "http://LOCALHOST./", true},
		{nil, "http://127.0.0.1/", false},
	}
	for _, tc := range cases {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := hostAllowed(tc.list, u); got != tc.want {
			t.Errorf("hostAllowed(%v, %s) = %v, want %v", tc.list, tc.url, got, tc.want)
		}
	}
}

func FuzzParseHTTPRequest(f *testing.F) {
	f.Add([]byte(`{"method":"GET","url":"http://127.0.0.1:1/x","headers":{"A":["b"]},"body":"aGk=","timeout_ms":5}`))
	f.Add([]byte(`{"url":"file:///etc/passwd"}`))
	f.Add([]byte(`{"url":"http://u:p@h/"}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, u, err := parseHTTPRequest(b)
		if err == nil && (u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil) {
			t.Fatalf("accepted %q as %v", b, u)
		}
		if u != nil {
			hostAllowed([]string{"127.0.0.1", "*.a.b:1"}, u)
		}
	})
}

func httpPlugin(t *testing.T) *Plugin {
	t.Helper()
	wasm := testenv.BuildGo(t, "httpcall.wasm", "./agent/wasmhost/testdata/httpcall", "GOOS=wasip1", "GOARCH=wasm")
	h := newHost(t, Options{})
	p, err := h.Load(context.Background(), wasm, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// call runs the httpcall plugin with the given requests and returns the
// results it printed.
func call(t *testing.T, p *Plugin, ctx context.Context, grant HTTPGrant, reqs ...string) []abi.HTTPResult {
	t.Helper()
	out, err := p.Run(ctx, Request{Config: []byte("[" + strings.Join(reqs, ",") + "]"), HTTP: grant})
	if err != nil {
		t.Fatal(err)
	}
	var results []abi.HTTPResult
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r abi.HTTPResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("result %q: %v", line, err)
		}
		results = append(results, r)
	}
	return results
}

func TestHTTPHostCall(t *testing.T) {
	p := httpPlugin(t)
	hang := make(chan struct{})
	defer close(hang)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Header", r.Header.Get("X-Test"))
		fmt.Fprint(w, "hello "+r.Method)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 10000)))
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	port := srv.Listener.Addr().(interface{ String() string }).String()[len("127.0.0.1:"):]
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://localhost:"+port+"/ok", http.StatusFound)
	})
	mux.HandleFunc("/stay", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	grant := HTTPGrant{AllowHosts: []string{"127.0.0.1:" + port}, MaxResponse: 1000, Timeout: 300 * time.Millisecond}
	req := func(path string) string {
		return fmt.Sprintf(`{"method":"POST","url":%q,"headers":{"X-Test":["v"]}}`, srv.URL+path)
	}
	start := time.Now()
	res := call(t, p, context.Background(), grant,
		req("/ok"), req("/stay"), req("/away"), req("/big"), req("/hang"),
		`{"url":"http://127.0.0.2:1/"}`, `{"url":"file:///etc/passwd"}`, `{"url":"http://127.0.0.1/","method":"G T"}`)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("calls took %v; the hanging one should end at its 300ms timeout", took)
	}
	checks := []struct {
		status int
		body   string
		err    string
	}{
		{200, "hello POST", ""},
		{200, "hello GET", ""}, // a 302 is followed with GET, as net/http does
		{0, "", "redirect to localhost:" + port + ": host is not in the collector's allow_hosts"},
		{0, "", "response larger than max_response (1000 bytes)"},
		{0, "", "timed out"},
		{0, "", "host 127.0.0.2:1 is not in the collector's allow_hosts"},
		{0, "", "only http and https are allowed"},
		{0, "", `method "G T" is not valid`},
	}
	if len(res) != len(checks) {
		t.Fatalf("got %d results, want %d: %+v", len(res), len(checks), res)
	}
	for i, c := range checks {
		r := res[i]
		if r.Status != c.status || string(r.Body) != c.body || !strings.Contains(r.Error, c.err) || (c.err == "" && r.Error != "") {
			t.Errorf("call %d: status %d body %q error %q; want %d %q %q", i, r.Status, r.Body, r.Error, c.status, c.body, c.err)
		}
	}
	if got := res[0].Headers["X-Seen-Header"]; len(got) != 1 || got[0] != "v" {
		t.Errorf("request headers did not reach the server: %v", res[0].Headers)
	}
}

func TestHTTPHostCallGrantsNothingByDefault(t *testing.T) {
	p := httpPlugin(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a plugin without allow_hosts reached a server")
	}))
	defer srv.Close()
	res := call(t, p, context.Background(), HTTPGrant{}, fmt.Sprintf(`{"url":%q}`, srv.URL))
	if !strings.Contains(res[0].Error, "not in the collector's allow_hosts []") {
		t.Errorf("error = %q", res[0].Error)
	}
}

func TestHTTPHostCallLimitsCallsPerRun(t *testing.T) {
	p := httpPlugin(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	reqs := make([]string, 4)
	for i := range reqs {
		reqs[i] = fmt.Sprintf(`{"url":%q}`, srv.URL)
	}
	res := call(t, p, context.Background(), HTTPGrant{AllowHosts: []string{u.Host}, MaxCalls: 3}, reqs...)
	if res[2].Error != "" || !strings.Contains(res[3].Error, "more than 3 HTTP calls") {
		t.Errorf("results: %+v", res)
	}
}

func TestHTTPHostCallHTTPSWithCAFile(t *testing.T) {
	p := httpPlugin(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secure") }))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL)
	reqJSON := fmt.Sprintf(`{"url":%q}`, srv.URL)
	// Without the CA the certificate is not trusted.
	res := call(t, p, context.Background(), HTTPGrant{AllowHosts: []string{u.Host}}, reqJSON)
	if !strings.Contains(res[0].Error, "certificate") {
		t.Errorf("untrusted certificate accepted: %+v", res[0])
	}
	res = call(t, p, context.Background(), HTTPGrant{AllowHosts: []string{u.Host}, CAFile: ca}, reqJSON)
	r := res[0]
	if r.Error != "" || string(r.Body) != "secure" || r.TLS == nil || len(r.TLS.PeerNotAfter) == 0 ||
		r.TLS.PeerNotAfter[0] != srv.Certificate().NotAfter.Unix() {
		t.Errorf("HTTPS result = %+v", r)
	}
}

// A collector's ca_file replaces the system roots, as every other ca_file
// of the agent and Prometheus' tls_config do: with it, a server the system
// trusts is refused. The system roots come from SSL_CERT_FILE, which Go
// reads once per process, so the check runs in a child process of this
// test binary.
func TestHTTPHostCallCAFileReplacesSystemRoots(t *testing.T) {
	if os.Getenv("PUSHAGENT_TEST_CA_CHILD") != "" {
		caFileReplacesSystemRoots(t)
		return
	}
	dir := t.TempDir()
	// The system's server: httptest's certificate, made the system root.
	sys := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "system") }))
	defer sys.Close()
	writePEM(t, filepath.Join(dir, "system.pem"), sys.Certificate().Raw)
	// The private server: a certificate of its own, in the collector's ca_file.
	cert, der := selfSigned(t)
	own := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "private") }))
	own.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	own.StartTLS()
	defer own.Close()
	writePEM(t, filepath.Join(dir, "own.pem"), der)

	cmd := exec.Command(os.Args[0], "-test.run=^TestHTTPHostCallCAFileReplacesSystemRoots$", "-test.v")
	cmd.Env = append(os.Environ(),
		"PUSHAGENT_TEST_CA_CHILD=1",
		"SSL_CERT_FILE="+filepath.Join(dir, "system.pem"),
		"SSL_CERT_DIR="+filepath.Join(dir, "no-such-dir"),
		"CA_TEST_DIR="+dir, "CA_TEST_SYSTEM_URL="+sys.URL, "CA_TEST_OWN_URL="+own.URL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func caFileReplacesSystemRoots(t *testing.T) {
	p := httpPlugin(t)
	dir, sysURL, ownURL := os.Getenv("CA_TEST_DIR"), os.Getenv("CA_TEST_SYSTEM_URL"), os.Getenv("CA_TEST_OWN_URL")
	s, _ := url.Parse(sysURL)
	o, _ := url.Parse(ownURL)
	grant := HTTPGrant{AllowHosts: []string{s.Host, o.Host}}
	reqs := []string{fmt.Sprintf(`{"url":%q}`, sysURL), fmt.Sprintf(`{"url":%q}`, ownURL)}

	// Without ca_file the system roots apply: the system's server is
	// trusted (else this test could not tell adding from replacing), the
	// private one is not.
	res := call(t, p, context.Background(), grant, reqs...)
	if res[0].Error != "" || string(res[0].Body) != "system" {
		t.Fatalf("system roots from SSL_CERT_FILE not in effect: %+v", res[0])
	}
	if !strings.Contains(res[1].Error, "certificate") {
		t.Errorf("private server trusted without ca_file: %+v", res[1])
	}

	grant.CAFile = filepath.Join(dir, "own.pem")
	res = call(t, p, context.Background(), grant, reqs...)
	if !strings.Contains(res[0].Error, "certificate") {
		t.Errorf("with ca_file the system's server is still trusted (ca_file added to the system roots): %+v", res[0])
	}
	if res[1].Error != "" || string(res[1].Body) != "private" {
		t.Errorf("with ca_file the private server is not trusted: %+v", res[1])
	}
}

// selfSigned makes a CA certificate for 127.0.0.1 that signs itself.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "private test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der
}

func writePEM(t *testing.T, name string, der []byte) {
	t.Helper()
	if err := os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}
