package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pushagent/pushagent/internal/plugintest"
	"github.com/pushagent/pushagent/sdk"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.prom from the current output")

// target serves body with status at /metrics and records the last request.
type target struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	body   []byte
	last   *http.Request
}

func newTarget(t testing.TB, status int, body []byte) *target {
	t.Helper()
	tg := &target{status: status, body: body}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		tg.last = r
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.WriteHeader(tg.status)
		w.Write(tg.body)
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) set(body []byte) {
	tg.mu.Lock()
	tg.body = body
	tg.mu.Unlock()
}

func (tg *target) lastRequest() *http.Request {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.last
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

func readTarget(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/target.prom")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	tg := newTarget(t, http.StatusOK, readTarget(t))
	var logs bytes.Buffer
	got, err := sdk.Collect(goldenConfig(t, tg.URL+"/metrics"), &logs)
	if err != nil {
		t.Fatalf("collect: %v\nlogs:\n%s", err, logs.String())
	}
	plugintest.Golden(t, "testdata/golden.prom", got, *update)
	req := tg.lastRequest()
	if got := req.Header.Get("Authorization"); got != "Bearer s3cret" {
		t.Errorf("Authorization header %q", got)
	}
	if got := req.Header.Get("Accept"); !strings.HasPrefix(got, "text/plain;version=0.0.4") {
		t.Errorf("Accept header %q", got)
	}
	if want := `msg="dropped sample timestamps; the Pushgateway rejects timestamped samples" metric=worker_last_job_timestamp_seconds samples=1`; !strings.Contains(logs.String(), want) {
		t.Errorf("logs do not contain %q:\n%s", want, logs.String())
	}
}

func TestRelabel(t *testing.T) {
	const body = "a_total 1\nb{x=\"1\"} 2\nc{x=\"1\",keep=\"old\"} 3\n"
	for _, tc := range []struct {
		name string
		cfg  config
		want string
	}{
		{
			name: "everything by default",
			want: "# TYPE a_total untyped\na_total 1\n# TYPE b untyped\nb{x=\"1\"} 2\n# TYPE c untyped\nc{keep=\"old\",x=\"1\"} 3\n",
		},
		{
			name: "keep is anchored",
			cfg:  config{Keep: []string{"a", "b"}},
			want: "# TYPE b untyped\nb{x=\"1\"} 2\n",
		},
		{
			name: "drop after keep",
			cfg:  config{Keep: []string{"[a-c].*"}, Drop: []string{".*_total", "c"}},
			want: "# TYPE b untyped\nb{x=\"1\"} 2\n",
		},
		{
			name: "labels replace an existing label",
			cfg:  config{Keep: []string{"c"}, Labels: map[string]string{"keep": "new", "added": "yes"}},
			want: "# TYPE c untyped\nc{added=\"yes\",keep=\"new\",x=\"1\"} 3\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget(t, http.StatusOK, []byte(body))
			tc.cfg.URL = tg.URL + "/metrics"
			got, err := sdk.Collect(mustJSON(t, tc.cfg), nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestRelabelerPerConfig: a warm instance keeps the compiled rules of the
// last config; a changed config must never run with the old rules.
func TestRelabelerPerConfig(t *testing.T) {
	tg := newTarget(t, http.StatusOK, []byte("a 1\nb 2\n"))
	for i, keep := range []string{"a", "b", "a", "(broken"} {
		got, err := sdk.Collect(mustJSON(t, config{URL: tg.URL + "/metrics", Keep: []string{keep}}), nil)
		if keep == "(broken" {
			if err == nil {
				t.Errorf("run %d: a broken regex after good ones was accepted", i)
			}
			continue
		}
		if want := "# TYPE " + keep + " untyped\n"; !strings.HasPrefix(string(got), want) || err != nil {
			t.Errorf("run %d with keep %q: %v\n%s", i, keep, err, got)
		}
	}
}

func TestHeaders(t *testing.T) {
	tg := newTarget(t, http.StatusOK, []byte("x 1\n"))
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    http.Header
	}{
		{"the default Accept", nil, http.Header{"Accept": {accept}}},
		{"headers of the config, an Accept in any case replacing ours",
			map[string]string{"accept": "text/plain", "X-Token": "t"},
			http.Header{"Accept": {"text/plain"}, "X-Token": {"t"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := sdk.Collect(mustJSON(t, config{URL: tg.URL + "/metrics", Headers: tc.headers}), nil); err != nil {
				t.Fatal(err)
			}
			got := tg.lastRequest().Header
			for k, v := range tc.want {
				if !slices.Equal(got.Values(k), v) {
					t.Errorf("header %s = %q, want %q", k, got.Values(k), v)
				}
			}
		})
	}
}

// TestSkipsFamily: a family that parses but cannot be pushed as it is is
// left out and logged; the run goes on with the rest.
func TestSkipsFamily(t *testing.T) {
	tg := newTarget(t, http.StatusOK, []byte("# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\nok 1\n"))
	var logs bytes.Buffer
	got, err := sdk.Collect(mustJSON(t, config{URL: tg.URL + "/metrics"}), &logs)
	if err != nil {
		t.Fatal(err)
	}
	if want := "# TYPE ok untyped\nok 1\n"; string(got) != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	if want := `level=WARN msg="skipping metric" metric=h err="sdk: metric \"h\": histogram bucket le=1 has count 5`; !strings.Contains(logs.String(), want) {
		t.Errorf("logs do not contain %q:\n%s", want, logs.String())
	}
}

func TestCollectFails(t *testing.T) {
	down := newTarget(t, http.StatusServiceUnavailable, []byte("shutting down\n"))
	long := newTarget(t, http.StatusInternalServerError, []byte(strings.Repeat("x", 150)+strings.Repeat("é", 100)))
	garbage := newTarget(t, http.StatusOK, []byte("this is { not metrics\n"))
	ok := newTarget(t, http.StatusOK, []byte("x 1\n"))
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tc := range []struct {
		name    string
		config  string
		wantErr string
	}{
		{"non-2xx names URL, status and body", `{"url": "` + down.URL + `/metrics"}`,
			`GET ` + down.URL + `/metrics: status 503 Service Unavailable: "shutting down"`},
		{"the body in the error is cut at 200 bytes", `{"url": "` + long.URL + `/metrics"}`,
			`status 500 Internal Server Error: "` + strings.Repeat("x", 150) + strings.Repeat("é", 25) + `…"`},
		{"not found", `{"url": "` + ok.URL + `/nope"}`, `GET ` + ok.URL + `/nope: status 404 Not Found`},
		{"unparseable body", `{"url": "` + garbage.URL + `/metrics"}`,
			`GET ` + garbage.URL + `/metrics: parsing the response as text format 0.0.4: sdk: text format: line 1: expected float as value, got "is"`},
		{"unreachable", `{"url": "` + closed.URL + `/metrics"}`, `scraping: Get "` + closed.URL + `/metrics"`},
		{"missing url", `{}`, `"url" is required`},
		{"bad regex", `{"url": "http://x/", "keep": ["ok", "(unclosed"]}`, "config: keep[1]: error parsing regexp"},
		{"bad label name", `{"url": "http://x/", "labels": {"bad-name": "v"}}`, `config: labels: "bad-name" is not a valid label name`},
		{"reserved label", `{"url": "http://x/", "labels": {"le": "1"}}`, `config: labels: "le" is reserved`},
		{"all config problems at once", `{"drop": ["("], "labels": {"__x": "1"}}`, `"url" is required` + "\nconfig: drop[0]"},
		{"unknown field", `{"url": "http://x/", "target": "x"}`, `unknown field "target"`},
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

// FuzzCollect serves arbitrary bytes as the target's /metrics: the run must
// not panic, and whatever it emits must parse back.
func FuzzCollect(f *testing.F) {
	f.Add(readTarget(f))
	f.Add([]byte("x{a=\"1\"} 1 1\nx{a=\"1\"} 2\n"))
	f.Add([]byte("# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\n"))
	f.Add([]byte("{\"utf8.name\"} 1\n"))
	tg := newTarget(f, http.StatusOK, nil)
	config := mustJSON(f, config{URL: tg.URL + "/metrics", Labels: map[string]string{"a": "b"}, Drop: []string{"drop_.*"}})
	f.Fuzz(func(t *testing.T, body []byte) {
		tg.set(body)
		out, err := sdk.Collect(config, nil)
		if err != nil {
			return // an unparseable body fails the run; that is fine
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		if _, err := p.TextToMetricFamilies(bytes.NewReader(out)); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
	})
}
