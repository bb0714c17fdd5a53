package httpcall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/sdk/abi"
)

func TestEncodeRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  Request
		want string
	}{
		{"plain GET", Request{Method: "GET", URL: "http://127.0.0.1:8080/metrics"}, `{"method":"GET","url":"http://127.0.0.1:8080/metrics"}`},
		{"everything", Request{Method: "PUT", URL: "http://h/x", Header: Header{"Accept": {"a"}, "X-Multi": {"1", "2"}}, Body: []byte("hi"), Timeout: 1500*time.Millisecond + 1},
			`{"method":"PUT","url":"http://h/x","headers":{"Accept":["a"],"X-Multi":["1","2"]},"body":"aGk=","timeout_ms":1501}`},
		{"empty header map", Request{Method: "GET", URL: "http://h/", Header: Header{}}, `{"method":"GET","url":"http://h/"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := encodeRequest(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
			var back abi.HTTPRequest
			if err := json.Unmarshal(b, &back); err != nil || back.URL != tc.req.URL {
				t.Errorf("the host reads %+v, %v", back, err)
			}
		})
	}
}

func TestDecodeResult(t *testing.T) {
	resp, err := decodeResult([]byte(`{
		"status": 200,
		"headers": {"Content-Type": ["text/plain"], "x-lower": ["v"], "X-Lower": ["w"]},
		"body": "aGVsbG8=",
		"url": "https://b.example/end",
		"tls": {"version": "TLS 1.3", "peer_not_after": [1790000000, 1900000000]},
		"error": "",
		"future_field": true
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Status != "200 OK" || string(resp.Body) != "hello" || resp.URL != "https://b.example/end" {
		t.Errorf("response %+v", resp)
	}
	if got := resp.Header.Get("content-type"); got != "text/plain" {
		t.Errorf("Content-Type %q", got)
	}
	if got := resp.Header.Values("X-Lower"); len(got) != 2 {
		t.Errorf("headers are not canonicalised: X-Lower %q (%v)", got, resp.Header)
	}
	want := &TLS{Version: "TLS 1.3", PeerNotAfter: []time.Time{time.Unix(1790000000, 0).UTC(), time.Unix(1900000000, 0).UTC()}}
	if !reflect.DeepEqual(resp.TLS, want) {
		t.Errorf("TLS = %+v", resp.TLS)
	}
	resp, err = decodeResult([]byte(`{"status":599,"error":""}`))
	if err != nil || resp.Status != "599" || resp.Body == nil || resp.Header == nil || resp.TLS != nil {
		t.Errorf("minimal result: %+v, %v", resp, err)
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
			resp, err := decodeResult([]byte(tc.result))
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

// FuzzDecodeResult: whatever the host hands back, decoding must not panic,
// and a nil error must come with a complete response.
func FuzzDecodeResult(f *testing.F) {
	f.Add([]byte(`{"status":200,"headers":{"Content-Type":["text/plain"]},"body":"aGVsbG8=","url":"http://x/y","tls":{"version":"TLS 1.3","peer_not_after":[1790000000]},"error":""}`))
	f.Add([]byte(`{"status":0,"error":"timed out"}`))
	f.Add([]byte(`{"status":200,"url":"::bad"}`))
	f.Add([]byte(`{"status":200,"headers":{"":[""],"a b":["c"]},"tls":{"peer_not_after":[-9223372036854775808]}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := decodeResult(b)
		if err != nil {
			if resp != nil {
				t.Fatal("response with an error")
			}
			return
		}
		if resp.StatusCode < 100 || resp.StatusCode > 999 || resp.Body == nil || resp.Header == nil || !strings.HasPrefix(resp.Status, fmt.Sprint(resp.StatusCode)) {
			t.Fatalf("incomplete response %+v", resp)
		}
		for k := range resp.Header {
			if canonicalKey(k) != k {
				t.Fatalf("header %q is not canonical", k)
			}
		}
	})
}

func TestCanonicalKey(t *testing.T) {
	for in, want := range map[string]string{
		"content-type": "Content-Type", "CONTENT-TYPE": "Content-Type", "Content-Type": "Content-Type",
		"x-b3-traceid": "X-B3-Traceid", "a--b": "A--B", "": "", "with space": "with space", "ünï": "ünï", "-x": "-X",
	} {
		if got := canonicalKey(in); got != want {
			t.Errorf("canonicalKey(%q) = %q, want %q", in, got, want)
		}
		if got := http.CanonicalHeaderKey(in); got != want {
			t.Errorf("net/http spells %q as %q, not %q", in, got, want)
		}
	}
}

func TestStatusText(t *testing.T) {
	for code := 100; code < 600; code++ {
		if got, want := statusText(code), http.StatusText(code); got != want {
			t.Errorf("statusText(%d) = %q, net/http says %q", code, got, want)
		}
	}
}

// The native form, as a plugin's tests use it.
func TestDoNative(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo", r.Header.Get("X-Test"))
		fmt.Fprintf(w, "%s %s", r.Method, body)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/echo", http.StatusFound) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := Do(Request{Method: "post", URL: srv.URL + "/echo", Header: Header{"x-test": {"v"}}, Body: []byte("ping")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Status != "200 OK" || string(resp.Body) != "POST ping" || resp.Header.Get("X-Echo") != "v" || resp.TLS != nil {
		t.Errorf("response %+v", resp)
	}
	resp, err = Get(srv.URL+"/redirect", map[string]string{"x-test": "w"})
	if err != nil || resp.URL != srv.URL+"/echo" || resp.Header.Get("X-Echo") != "w" {
		t.Errorf("after a redirect: %+v, %v", resp, err)
	}
	resp, err = Get(srv.URL+"/missing", nil)
	if err != nil || resp.StatusCode != 404 || resp.Status != "404 Not Found" {
		t.Errorf("a 404 is a response: %+v, %v", resp, err)
	}

	_, err = Do(Request{URL: srv.URL + "/slow", Timeout: 50 * time.Millisecond})
	want := `Get "` + srv.URL + `/slow": context deadline exceeded`
	if err == nil || err.Error() != want || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v, want %s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Method != "GET" || e.URL != srv.URL+"/slow" {
		t.Errorf("error %#v", err)
	}
	if _, err := Get(srv.URL+"/loop", nil); err == nil || !strings.HasSuffix(err.Error(), "stopped after 10 redirects") {
		t.Errorf("redirect loop: %v", err)
	}
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{}, "httpcall: the request has no URL"},
		{Request{URL: "http://h/", Timeout: -1}, "httpcall: negative timeout -1ns"},
		{Request{URL: "::bad"}, `Get "::bad": parse "::bad": missing protocol scheme`},
		{Request{Method: "G T", URL: srv.URL}, `G t "` + srv.URL + `": net/http: invalid method "G T"`},
	} {
		if _, err := Do(tc.req); err == nil || err.Error() != tc.want {
			t.Errorf("Do(%+v) error %v, want %s", tc.req, err, tc.want)
		}
	}
}
