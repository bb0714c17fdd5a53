package httpplugin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/agent/config"
)

// These endpoints stand in for user-written HTTP plugins, including broken
// ones; the agent side under test is the client.
func TestRun(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, pass, _ := r.BasicAuth()
		fmt.Fprintf(w, "# TYPE seen gauge\nseen{cfg=%q,job=%q,collector=%q,key=%q,user=%q,pass=%q,accept=%q} 1\n",
			body, r.Header.Get("X-Pushagent-Job"), r.Header.Get("X-Pushagent-Collector"), r.Header.Get("X-Key"), user, pass, r.Header.Get("Accept"))
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Repeat("a 1\n", 1000))
	})
	stop := make(chan struct{})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(stop) // before Close, which waits for handlers

	cases := []struct {
		path    string
		timeout time.Duration
		want    string
		err     string
	}{
		{"/ok", time.Second, `seen{cfg="{\"a\":1}",job="j",collector="c",key="k1",user="u",pass="p",accept="text/plain; version=0.0.4"} 1`, ""},
		{"/fail", time.Second, "", "answered 503 Service Unavailable: database unreachable"},
		{"/big", time.Second, "", "answer exceeds max_output (100 bytes)"},
		{"/slow", 100 * time.Millisecond, "", "timed out after"},
		{"/redirect", time.Second, "", "answered 302 Found"},
	}
	for _, tc := range cases {
		c, err := New(&config.HTTPPlugin{
			URL:       srv.URL + tc.path,
			Headers:   map[string]config.Secret{"X-Key": "k1"},
			BasicAuth: &config.BasicAuth{Username: "u", Password: "p"},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
		max := int64(1000)
		if tc.path == "/big" {
			max = 100
		}
		out, err := c.Run(ctx, "j", "c", []byte(`{"a":1}`), max)
		cancel()
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.path, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), srv.URL)):
			t.Errorf("%s: err = %v, want it to name the endpoint and say %q", tc.path, err, tc.err)
		case !strings.Contains(string(out), tc.want):
			t.Errorf("%s: output %q lacks %q", tc.path, out, tc.want)
		}
	}
}
