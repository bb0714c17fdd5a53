package sdk

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEncodeRequest(t *testing.T) {
	now := time.Now() // the context checks its deadline against the real clock
	withDeadline := func(d time.Duration) context.Context {
		ctx, cancel := context.WithDeadline(context.Background(), now.Add(d))
		t.Cleanup(cancel)
		return ctx
	}
	for _, tc := range []struct {
		name string
		req  func() *http.Request
		want httpRequest
	}{
		{
			name: "plain GET",
			req: func() *http.Request {
				r, _ := http.NewRequest("", "http://127.0.0.1:8080/metrics", nil)
				return r
			},
			want: httpRequest{Method: "GET", URL: "http://127.0.0.1:8080/metrics"},
		},
		{
			name: "headers, body and deadline",
			req: func() *http.Request {
				r, _ := http.NewRequestWithContext(withDeadline(1500*time.Millisecond+1), "POST", "https://example.com/api?q=1", strings.NewReader(`{"a":1}`))
				r.Header.Set("Accept", "text/plain")
				r.Header.Add("X-Multi", "1")
				r.Header.Add("X-Multi", "2")
				return r
			},
			want: httpRequest{
				Method:    "POST",
				URL:       "https://example.com/api?q=1",
				Headers:   map[string][]string{"Accept": {"text/plain"}, "X-Multi": {"1", "2"}},
				Body:      []byte(`{"a":1}`),
				TimeoutMS: 1501, // rounded up, never 0
			},
		},
		{
			name: "a Host different from the URL's is sent as a header",
			req: func() *http.Request {
				r, _ := http.NewRequest("GET", "http://10.0.0.1/", http.NoBody)
				r.Host = "service.internal"
				return r
			},
			want: httpRequest{Method: "GET", URL: "http://10.0.0.1/", Headers: map[string][]string{"Host": {"service.internal"}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := encodeRequest(tc.req(), now)
			if err != nil {
				t.Fatal(err)
			}
			var got httpRequest
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v\nJSON %s", got, tc.want, b)
			}
		})
	}
}

// The wire format is the ABI: field names and base64 bodies must not drift.
func TestEncodeRequestWireFormat(t *testing.T) {
	r, _ := http.NewRequest("PUT", "http://h/x", strings.NewReader("hi"))
	r.Header.Set("Accept", "a")
	b, err := encodeRequest(r, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"method":"PUT","url":"http://h/x","headers":{"Accept":["a"]},"body":"aGk="}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestEncodeRequestExpiredContext(t *testing.T) {
	now := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(-time.Second))
	defer cancel()
	r, _ := http.NewRequestWithContext(ctx, "GET", "http://h/", nil)
	if _, err := encodeRequest(r, now); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want DeadlineExceeded", err)
	}
}

func TestDecodeResult(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://a.example/start", nil)
	resp, err := decodeResult([]byte(`{
		"status": 200,
		"headers": {"Content-Type": ["text/plain"], "x-lower": ["v"]},
		"body": "aGVsbG8=",
		"url": "https://b.example/end",
		"tls": {"version": "TLS 1.3", "peer_not_after": [1790000000, 1900000000]},
		"future_field": true
	}`), req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Status != "200 OK" || string(body) != "hello" || resp.ContentLength != 5 {
		t.Errorf("status %q code %d body %q length %d", resp.Status, resp.StatusCode, body, resp.ContentLength)
	}
	if got := resp.Header.Get("Content-Type"); got != "text/plain" {
		t.Errorf("Content-Type %q", got)
	}
	if got := resp.Header.Get("X-Lower"); got != "v" {
		t.Errorf("headers are not canonicalised: X-Lower %q", got)
	}
	if got := resp.Request.URL.String(); got != "https://b.example/end" {
		t.Errorf("resp.Request.URL = %s, want the URL after redirects", got)
	}
	if req.URL.String() != "http://a.example/start" {
		t.Errorf("the caller's request was modified: %s", req.URL)
	}
	if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 || len(resp.TLS.PeerCertificates) != 2 {
		t.Fatalf("TLS = %+v", resp.TLS)
	}
	if got := resp.TLS.PeerCertificates[0].NotAfter; !got.Equal(time.Unix(1790000000, 0)) {
		t.Errorf("leaf NotAfter = %v", got)
	}
}

func TestDecodeResultFailures(t *testing.T) {
	for _, tc := range []struct {
		name, result, wantErr string
		host                  bool
	}{
		{"host error", `{"status":0,"error":"host 10.0.0.1:80 is not in the collector's allow_hosts [127.0.0.1]"}`,
			"pushagent_v1.http_request: host 10.0.0.1:80 is not in the collector's allow_hosts [127.0.0.1]", true},
		{"error wins over a status", `{"status":200,"error":"timed out"}`, "pushagent_v1.http_request: timed out", true},
		{"not JSON", `<html>`, "pushagent_v1.http_result: invalid result", false},
		{"no status", `{}`, "invalid status 0", false},
		{"status out of range", `{"status":1000}`, "invalid status 1000", false},
		{"body not base64", `{"status":200,"body":"!!"}`, "invalid result", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := decodeResult([]byte(tc.result), nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
			if resp != nil {
				t.Error("a response came with the error")
			}
			var he *hostError
			if errors.As(err, &he) != tc.host {
				t.Errorf("errors.As(hostError) = %v, want %v", !tc.host, tc.host)
			}
		})
	}
}

// The whole client as a plugin uses it in wasm, with a fake host call.
func TestHostClient(t *testing.T) {
	var sent httpRequest
	host := func(result string) func([]byte) ([]byte, error) {
		return func(b []byte) ([]byte, error) {
			sent = httpRequest{}
			if err := json.Unmarshal(b, &sent); err != nil {
				t.Fatalf("request JSON %s: %v", b, err)
			}
			return []byte(result), nil
		}
	}

	t.Run("redirect status is final", func(t *testing.T) {
		c := newHostClient(host(`{"status":302,"headers":{"Location":["http://elsewhere/"]}}`))
		resp, err := c.Get("http://127.0.0.1:1/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 302 || sent.Method != "GET" || sent.URL != "http://127.0.0.1:1/x" {
			t.Errorf("status %d, sent %+v", resp.StatusCode, sent)
		}
	})
	t.Run("host error names the URL and the host's message", func(t *testing.T) {
		c := newHostClient(host(`{"status":0,"error":"host 10.1.1.1:80 is not in the collector's allow_hosts []"}`))
		_, err := c.Get("http://10.1.1.1/")
		const want = `Get "http://10.1.1.1/": pushagent_v1.http_request: host 10.1.1.1:80 is not in the collector's allow_hosts []`
		if err == nil || err.Error() != want {
			t.Errorf("error = %v\nwant    %s", err, want)
		}
	})
	t.Run("context deadline becomes timeout_ms", func(t *testing.T) {
		c := newHostClient(host(`{"status":204}`))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "DELETE", "http://h/", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if sent.TimeoutMS <= 50_000 || sent.TimeoutMS > 60_000 || sent.Method != "DELETE" {
			t.Errorf("sent %+v", sent)
		}
	})
	t.Run("failed host call", func(t *testing.T) {
		c := newHostClient(func([]byte) ([]byte, error) { return nil, errors.New("pushagent_v1.http_result: no pending result") })
		if _, err := c.Get("http://h/"); err == nil || !strings.Contains(err.Error(), "no pending result") {
			t.Errorf("error = %v", err)
		}
	})
}

// FuzzDecodeResult: whatever the host hands back, decoding must not panic,
// and a nil error must come with a complete response.
func FuzzDecodeResult(f *testing.F) {
	f.Add([]byte(`{"status":200,"headers":{"Content-Type":["text/plain"]},"body":"aGVsbG8=","url":"http://x/y","tls":{"version":"TLS 1.3","peer_not_after":[1790000000]},"error":""}`))
	f.Add([]byte(`{"status":0,"error":"timed out"}`))
	f.Add([]byte(`{"status":200,"url":"::bad"}`))
	f.Add([]byte(`{"status":200,"headers":{"":[""]},"tls":{"peer_not_after":[-9223372036854775808]}}`))
	f.Add([]byte(`null`))
	req, _ := http.NewRequest("GET", "http://x/", nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := decodeResult(b, req)
		if err != nil {
			if resp != nil {
				t.Fatal("response with an error")
			}
			return
		}
		if resp.StatusCode < 100 || resp.StatusCode > 999 || resp.Body == nil || resp.Header == nil || resp.Request == nil {
			t.Fatalf("incomplete response %+v", resp)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || int64(len(body)) != resp.ContentLength {
			t.Fatalf("body %d bytes, ContentLength %d, err %v", len(body), resp.ContentLength, err)
		}
	})
}
