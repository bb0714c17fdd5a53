package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushagent/pushagent/sdk"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.prom from the current output")

// caFile holds the certificate of httptest's TLS servers (the same one for
// every server), for the native client through SSL_CERT_FILE and for the
// agent's host through HTTPGrant.CAFile.
var caFile string

// TestMain points the native client's system roots at httptest's
// certificate, so that the golden test probes HTTPS as the agent would
// with a configured CA. crypto/x509 reads SSL_CERT_FILE once, on first use,
// which is after this.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "httpprobe-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	caFile = filepath.Join(dir, "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	srv.Close()
	if err := os.WriteFile(caFile, pemBytes, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("SSL_CERT_FILE", caFile)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stepClock makes probe_duration_seconds exact: every reading of the clock
// is 125ms after the previous one.
func stepClock(t *testing.T) {
	t.Helper()
	tick := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	now = func() time.Time {
		tick = tick.Add(125 * time.Millisecond)
		return tick
	}
	t.Cleanup(func() { now = time.Now })
}

// healthHandler answers like the endpoint in testdata/golden.json expects,
// and refuses requests that lost their method, headers or body.
func healthHandler(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != "POST" || r.Header.Get("Authorization") != "Bearer s3cret" || string(body) != "ping" {
		http.Error(w, fmt.Sprintf("unexpected %s %q %q", r.Method, r.Header.Get("Authorization"), body), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, "service: billing\nstatus: ok\n")
}

// goldenConfig is testdata/golden.json with the URL of the test server: the
// same config for the native and the wasm run.
func goldenConfig(t testing.TB, url string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg config
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.URL = url
	return mustJSON(t, cfg)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	stepClock(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(healthHandler))
	defer srv.Close()
	var logs bytes.Buffer
	got, err := sdk.Collect(goldenConfig(t, srv.URL+"/health"), &logs)
	if err != nil {
		t.Fatalf("collect: %v\nlogs:\n%s", err, logs.String())
	}
	const golden = "testdata/golden.prom"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update to accept):\n%s\nlogs:\n%s", golden, got, logs.String())
	}
}

// A failed probe is a successful run that reports probe_success 0 and logs
// the reason.
func TestFailedProbes(t *testing.T) {
	stepClock(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/down":
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		default:
			io.WriteString(w, "status: degraded\n")
		}
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tc := range []struct {
		name    string
		config  string
		status  string
		length  string
		success string
		wantLog string
	}{
		{"2xx is the default", `{"url": "` + srv.URL + `/ok"}`, "200", "17", "1", ""},
		{"redirects are followed", `{"url": "` + srv.URL + `/redirect"}`, "200", "17", "1", ""},
		{"status not valid", `{"url": "` + srv.URL + `/down"}`, "503", "12", "0",
			`msg="probe failed" url=` + srv.URL + `/down err="status 503 Service Unavailable is not a valid status code"`},
		{"listed status codes only", `{"url": "` + srv.URL + `/ok", "valid_status_codes": [204]}`, "200", "17", "0", "status 200 OK is not a valid status code"},
		{"expected 503", `{"url": "` + srv.URL + `/down", "valid_status_codes": [503]}`, "503", "12", "1", ""},
		{"body does not match", `{"url": "` + srv.URL + `/ok", "expect_body_regex": "status: ok"}`, "200", "17", "0",
			`err="body does not match expect_body_regex \"status: ok\""`},
		{"timeout", `{"url": "` + srv.URL + `/slow", "timeout": "50ms"}`, "0", "0", "0", "context deadline exceeded"},
		{"connection refused", `{"url": "` + closed.URL + `/"}`, "0", "0", "0", "connection refused"},
		// The plugin checks the URL's form only; the rest is the agent's.
		{"a URL that does not parse", `{"url": "` + closed.URL + `/%zz"}`, "0", "0", "0", `invalid URL escape \"%zz\"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			got, err := sdk.Collect([]byte(tc.config), &logs)
			if err != nil {
				t.Fatalf("a failed probe failed the run: %v\nlogs:\n%s", err, logs.String())
			}
			for _, want := range []string{
				"probe_success " + tc.success + "\n",
				"probe_http_status_code " + tc.status + "\n",
				"probe_http_content_length " + tc.length + "\n",
				"probe_duration_seconds 0.125\n",
			} {
				if !strings.Contains(string(got), want) {
					t.Errorf("output lacks %q:\n%s", want, got)
				}
			}
			if strings.Contains(string(got), "probe_ssl_earliest_cert_expiry") {
				t.Errorf("certificate expiry without HTTPS:\n%s", got)
			}
			if tc.wantLog == "" && logs.Len() > 0 {
				t.Errorf("unexpected logs:\n%s", logs.String())
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("logs do not contain %q:\n%s", tc.wantLog, logs.String())
			}
		})
	}
}

func TestConfigErrorsFailTheRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		config  string
		wantErr string
	}{
		{"missing url", `{}`, `config: "url" is required`},
		{"every problem at once", `{"url": "http://x/", "valid_status_codes": [2000], "expect_body_regex": "(", "timeout": "5"}`,
			"config: valid_status_codes[0]: 2000 is not an HTTP status\nconfig: expect_body_regex: error parsing regexp: missing closing ): `(`\nconfig: timeout: time: missing unit in duration \"5\""},
		{"negative timeout", `{"url": "http://x/", "timeout": "-1s"}`, "timeout: must be positive"},
		{"bad method", `{"url": "http://x/", "method": "GET ME"}`, `url or method: invalid method "GET ME"`},
		{"no scheme", `{"url": "::bad"}`, `url or method: url "::bad": only http and https are allowed`},
		{"not http", `{"url": "ftp://x/"}`, `url or method: url "ftp://x/": only http and https are allowed`},
		{"no host", `{"url": "http:///x"}`, `url or method: url "http:///x" has no host`},
		{"control character", `{"url": "http://x/\n"}`, `url or method: url "http://x/\n": invalid control character in URL`},
		{"unknown field", `{"url": "http://x/", "valid_status_code": [200]}`, `unknown field "valid_status_code"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := sdk.Collect([]byte(tc.config), nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v\nwant one containing %q", err, tc.wantErr)
			}
			if out != nil {
				t.Errorf("failed run produced output %q", out)
			}
		})
	}
}

// checkRequest lets through every URL the agent could fetch, whatever net/url
// would say about its details, which the agent reports as a failed probe.
func TestCheckRequestAccepts(t *testing.T) {
	for _, u := range []string{"http://x", "HTTPS://h.example:8443/p?q=1#f", "http://[::1]:80/", "http://x/a b", "http://u@x/", "http://x:99999/"} {
		if err := checkRequest("GET", u); err != nil {
			t.Errorf("checkRequest(GET, %q) = %v", u, err)
		}
	}
	for _, m := range []string{"GET", "M-SEARCH", "propfind"} {
		if err := checkRequest(m, "http://x/"); err != nil {
			t.Errorf("checkRequest(%q) = %v", m, err)
		}
	}
}

// FuzzCollect serves an arbitrary body with an arbitrary regex: the run
// must not fail or panic (a probe that does not match is a result, and a
// regex that does not compile is a config error), and the output must
// report the probe.
func FuzzCollect(f *testing.F) {
	f.Add("status: ok", "status: (ok|fine)")
	f.Add("\x00\xff", "^$")
	f.Add("", "(")
	var body atomic.Value // string
	body.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body.Load().(string)) }))
	defer srv.Close()
	success := regexp.MustCompile(`(?m)^probe_success [01]$`)
	f.Fuzz(func(t *testing.T, b, re string) {
		body.Store(b)
		cfg := mustJSON(t, config{URL: srv.URL, ExpectBodyRegex: re})
		var sent config // JSON replaces invalid UTF-8: check the regex the plugin gets
		if err := json.Unmarshal(cfg, &sent); err != nil {
			t.Fatal(err)
		}
		out, err := sdk.Collect(cfg, nil)
		if _, reErr := regexp.Compile(sent.ExpectBodyRegex); reErr != nil {
			if err == nil {
				t.Fatalf("regex %q does not compile, but the run succeeded", re)
			}
			return
		}
		if err != nil {
			t.Fatalf("run failed: %v", err)
		}
		if !success.Match(out) {
			t.Fatalf("no probe_success in:\n%s", out)
		}
	})
}
