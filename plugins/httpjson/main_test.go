package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pushagent/pushagent/internal/plugintest"
	"github.com/pushagent/pushagent/sdk"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.prom from the current output")

// server serves a JSON body at /status and records the last request.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	body   []byte
	last   *http.Request
}

func newServer(t testing.TB, status int, body []byte) *server {
	t.Helper()
	s := &server{status: status, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.last = r
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.status)
		w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) set(body []byte) {
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

func (s *server) lastRequest() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goldenConfig is testdata/golden.json with the URL of the test server: the
// same config for the native and the wasm run.
func goldenConfig(t testing.TB, url string) []byte {
	t.Helper()
	var cfg config
	if err := json.Unmarshal(readFile(t, "testdata/golden.json"), &cfg); err != nil {
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
	srv := newServer(t, http.StatusOK, readFile(t, "testdata/status.json"))
	var logs bytes.Buffer
	got, err := sdk.Collect(goldenConfig(t, srv.URL+"/status"), &logs)
	if err != nil {
		t.Fatalf("collect: %v\nlogs:\n%s", err, logs.String())
	}
	plugintest.Golden(t, "testdata/golden.prom", got, *update)
	if got := srv.lastRequest().Header.Get("Authorization"); got != "Bearer s3cret" {
		t.Errorf("Authorization header %q", got)
	}
	// The metric the document lacks is skipped and named in the log.
	const wantLog = `msg="skipping metric" metric=billing_build_info path=$.build.commit err="metrics[9] billing_build_info: $.build is null, not an object"`
	if !strings.Contains(logs.String(), wantLog) {
		t.Errorf("logs do not contain %q:\n%s", wantLog, logs.String())
	}
}

func TestMetricErrors(t *testing.T) {
	const doc = `{"items": [{"n": "a", "v": 1, "s": "x"}, {"n": "b", "s": "y"}, {"n": "a", "v": 3}], "obj": {"k": {}}, "t": "1.5e3"}`
	srv := newServer(t, http.StatusOK, []byte(doc))
	for _, tc := range []struct {
		name    string
		metrics string
		want    string // output
		wantLog string
	}{
		{
			name:    "an element without the value skips the metric, not the run",
			metrics: `[{"name": "v", "path": "$.items[*].v", "labels": {"n": "@.n"}}, {"name": "t", "path": "$.t"}]`,
			want:    "# TYPE t gauge\nt 1500\n",
			wantLog: `err="metrics[0] v: $.items[1] has no key \"v\""`,
		},
		{
			name:    "duplicate series skip the metric",
			metrics: `[{"name": "v", "path": "$.items[*].n", "labels": {"n": "@.n"}, "value_map": {"a": 1, "b": 2}}, {"name": "t", "path": "$.t"}]`,
			want:    "# TYPE t gauge\nt 1500\n",
			wantLog: `err="metrics[0] v: $.items[2].n: series {n=\"a\"} appears twice`,
		},
		{
			name:    "same name from two entries, same series twice",
			metrics: `[{"name": "t", "path": "$.t"}, {"name": "t", "path": "$.items[0].v"}]`,
			want:    "# TYPE t gauge\nt 1500\n",
			wantLog: `err="metrics[1] t: $.items[0].v: series {} appears twice; add a label that tells them apart"`,
		},
		{
			name:    "value not in value_map",
			metrics: `[{"name": "s", "path": "$.items[0].s", "value_map": {"y": 1}}, {"name": "t", "path": "$.t"}]`,
			want:    "# TYPE t gauge\nt 1500\n",
			wantLog: `value \"x\" is not in value_map`,
		},
		{
			name:    "a label that is not a scalar",
			metrics: `[{"name": "t", "path": "$.t", "labels": {"k": "$.obj.k"}}, {"name": "u", "path": "$.items[0].v"}]`,
			want:    "# TYPE u gauge\nu 1\n",
			wantLog: `label k: $.obj.k: an object is not a string, number or boolean`,
		},
		{
			name:    "a value that is not a number",
			metrics: `[{"name": "s", "path": "$.items[0].s"}, {"name": "o", "path": "$.obj"}, {"name": "t", "path": "$.t"}]`,
			want:    "# TYPE t gauge\nt 1500\n",
			wantLog: `string \"x\" is not a number`,
		},
		{
			name:    "an empty wildcard is no error",
			metrics: `[{"name": "e", "path": "$.obj.k.list[*]"}, {"name": "t", "path": "$.t"}]`,
			want:    "# TYPE t gauge\nt 1500\n",
			wantLog: `$.obj.k has no key \"list\"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			cfg := `{"url": "` + srv.URL + `", "metrics": ` + tc.metrics + `}`
			got, err := sdk.Collect([]byte(cfg), &logs)
			if err != nil {
				t.Fatalf("collect: %v\nlogs:\n%s", err, logs.String())
			}
			if string(got) != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", got, tc.want)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("logs do not contain %q:\n%s", tc.wantLog, logs.String())
			}
		})
	}
}

func TestCollectFails(t *testing.T) {
	okDoc := newServer(t, http.StatusOK, []byte(`{"a": 1}`))
	down := newServer(t, http.StatusInternalServerError, []byte(`{"error": "boom"}`))
	html := newServer(t, http.StatusOK, []byte(`<html>`))
	two := newServer(t, http.StatusOK, []byte(`{} {}`))
	m := `, "metrics": [{"name": "a", "path": "$.a"}]}`
	for _, tc := range []struct {
		name    string
		config  string
		wantErr string
	}{
		{"no metric matched", `{"url": "` + okDoc.URL + `", "metrics": [{"name": "x", "path": "$.x"}, {"name": "y", "path": "$.a.b"}]}`,
			"no metric could be read from " + okDoc.URL + ": metrics[0] x: $ has no key \"x\"\nmetrics[1] y: $.a is a number, not an object"},
		{"non-2xx", `{"url": "` + down.URL + `/x"` + m, "GET " + down.URL + "/x: status 500 Internal Server Error"},
		{"not JSON", `{"url": "` + html.URL + `"` + m, "GET " + html.URL + ": the response is not JSON"},
		{"two documents", `{"url": "` + two.URL + `"` + m, "data after the document"},
		{"missing url and metrics", `{}`, `config: "url" is required` + "\n" + `config: "metrics" must list at least one metric`},
		{"bad metric", `{"url": "http://x/", "metrics": [{"name": "a-b", "type": "histogram", "path": "a"}]}`,
			`config: metrics[0].name: "a-b" is not a valid metric name` + "\n" +
				`config: metrics[0].type: "histogram" is not gauge, counter or untyped` + "\n" +
				`config: metrics[0].path: path "a" must start with $ or @`},
		{"relative value path", `{"url": "http://x/", "metrics": [{"name": "a", "path": "@.a"}]}`, `metrics[0].path: "@.a" must start with $`},
		{"bad labels", `{"url": "http://x/", "metrics": [{"name": "a", "path": "$.a", "labels": {"__x": "@.n", "l": "$.a[*]", "m": "$["}}]}`,
			`config: metrics[0].labels: "__x" is not a valid label name` + "\n" +
				`config: metrics[0].labels.l: "$.a[*]" has [*], but a label has one value per series` + "\n" +
				`config: metrics[0].labels.m: path "$[": missing ]`},
		{"one family, two types", `{"url": "http://x/", "metrics": [{"name": "a", "path": "$.a"}, {"name": "a", "type": "counter", "path": "$.b"}]}`,
			`config: metrics[1]: a has another type or help than metrics[0]`},
		{"unknown field", `{"url": "http://x/", "metrics": [{"name": "a", "path": "$.a", "jsonpath": "$.a"}]}`, `unknown field "jsonpath"`},
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

// FuzzCollect serves an arbitrary document to the golden config: the run
// must not panic, and whatever it emits must parse back.
func FuzzCollect(f *testing.F) {
	f.Add(readFile(f, "testdata/status.json"))
	f.Add([]byte(`{"queues": [{"name": "a", "depth": "NaN"}, {"name": 1, "depth": true}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"service": {"healthy": "1e400"}}`))
	srv := newServer(f, http.StatusOK, nil)
	config := goldenConfig(f, srv.URL)
	f.Fuzz(func(t *testing.T, body []byte) {
		srv.set(body)
		out, err := sdk.Collect(config, nil)
		if err != nil {
			return // nothing matched or not JSON: a failed run is fine
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		if _, err := p.TextToMetricFamilies(bytes.NewReader(out)); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
	})
}
