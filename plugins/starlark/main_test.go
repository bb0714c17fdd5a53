package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pushagent/pushagent/internal/plugintest"
	"github.com/pushagent/pushagent/sdk"
	"github.com/pushagent/pushagent/sdk/httpcall"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.prom from the current output")

// statsServer serves testdata/stats.json at /stats, and echoes requests
// elsewhere, for the HTTP tests.
func statsServer(t testing.TB) *httptest.Server {
	t.Helper()
	stats, err := os.ReadFile("testdata/stats.json")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "application/json" {
			http.Error(w, "want Accept: application/json", http.StatusNotAcceptable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(stats)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		json.NewEncoder(w).Encode(map[string]any{
			"method":       r.Method,
			"body":         string(body),
			"content_type": r.Header.Get("Content-Type"),
			"token":        r.Header.Get("X-Token"),
		})
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answers only when the client gives up
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// configJSON builds a collector config; vars may be nil.
func configJSON(t testing.TB, cfg map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	srv := statsServer(t)
	var logs bytes.Buffer
	got, err := sdk.Collect(configJSON(t, map[string]any{
		"script_file": "testdata/queue.star",
		"vars":        map[string]any{"url": srv.URL + "/stats", "env": "prod"},
	}), &logs)
	if err != nil {
		t.Fatalf("collect: %v\nlogs:\n%s", err, logs.String())
	}
	plugintest.Golden(t, "testdata/golden.prom", got, *update)
	for _, want := range []string{
		`level=WARN msg="queue has no consumers" queue=emails depth=1500`,
		`level=INFO msg="collected 3 queues" idle=1`,
		`level=DEBUG msg="script finished" script=testdata/queue.star steps=`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs do not contain %q:\n%s", want, logs.String())
		}
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	if _, err := p.TextToMetricFamilies(bytes.NewReader(got)); err != nil {
		t.Errorf("output does not parse: %v", err)
	}
}

func TestScripts(t *testing.T) {
	srv := statsServer(t)
	for _, tc := range []struct {
		name    string
		script  string
		vars    any
		want    string
		wantLog string
	}{
		{
			name:   "no metrics is a successful empty run",
			script: `x = 1`,
		},
		{
			name:   "gauge with labels of any scalar type",
			script: `metrics.gauge("g", 1.5, labels={"s": "a", "i": 3, "b": True, "f": 0.5})`,
			want:   "# TYPE g gauge\ng{b=\"True\",f=\"0.5\",i=\"3\",s=\"a\"} 1.5\n",
		},
		{
			name:   "counter and untyped take ints",
			script: "metrics.counter(\"c_total\", 7, help=\"Things.\")\nmetrics.untyped(\"u\", -2)",
			want:   "# HELP c_total Things.\n# TYPE c_total counter\nc_total 7\n# TYPE u untyped\nu -2\n",
		},
		{
			name:   "vars is the config's JSON object",
			script: `metrics.gauge("v", vars["n"], labels={"name": vars["name"]})`,
			vars:   map[string]any{"n": 2, "name": "x"},
			want:   "# TYPE v gauge\nv{name=\"x\"} 2\n",
		},
		{
			name:   "vars defaults to an empty dict",
			script: `metrics.gauge("v", len(vars))`,
			want:   "# TYPE v gauge\nv 0\n",
		},
		{
			name:   "histogram with numeric bucket keys",
			script: `metrics.histogram("h", buckets={0.1: 1, 1: 3}, count=4, sum=2.5)`,
			want:   "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 4\nh_sum 2.5\nh_count 4\n",
		},
		{
			name:   "summary",
			script: `metrics.summary("s", quantiles={"0.5": 1.0}, count=2, sum=3)`,
			want:   "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 3\ns_count 2\n",
		},
		{
			name:    "log levels and attributes",
			script:  `log.debug("d", n=1, f=0.5, ok=True, s="x", l=[1])`,
			wantLog: `level=DEBUG msg=d n=1 f=0.5 ok=true s=x l=[1]`,
		},
		{
			name:    "log.error and log.warn",
			script:  `log.warn("w", q="a b"); log.error("e")`,
			wantLog: "level=WARN msg=w q=\"a b\"\nlevel=ERROR msg=e\n",
		},
		{
			name:    "print logs at info",
			script:  `print("hello", 1)`,
			wantLog: `level=INFO msg="hello 1"`,
		},
		{
			name:   "json and struct",
			script: `s = struct(a=json.decode('{"v": [1, 2]}')["v"]); metrics.gauge("n", len(s.a)); metrics.gauge("e", len(json.encode({"k": 1})))`,
			want:   "# TYPE e gauge\ne 7\n# TYPE n gauge\nn 2\n",
		},
		{
			name:   "time and math",
			script: `metrics.gauge("d", time.parse_duration("1m30s").seconds); metrics.gauge("m", math.floor(2.7))`,
			want:   "# TYPE d gauge\nd 90\n# TYPE m gauge\nm 2\n",
		},
		{
			name:   "a global updated in a top-level loop, and sets",
			script: "n = 0\nfor x in set([1, 1, 2]):\n    n += x\nmetrics.gauge(\"n\", n)",
			want:   "# TYPE n gauge\nn 3\n",
		},
		{
			name: "http.post with json, headers and the response",
			script: `r = http.post(vars["url"] + "/echo", json={"a": 1}, headers={"X-Token": "t"})
d = r.json()
metrics.gauge("ok", 1, labels={"method": d["method"], "body": d["body"], "ct": d["content_type"], "token": d["token"],
    "multi": r.headers["x-multi"], "status": r.status})`,
			vars: map[string]any{"url": srv.URL},
			want: "# TYPE ok gauge\nok{body=\"{\\\"a\\\":1}\",ct=\"application/json\",method=\"POST\",multi=\"a, b\",status=\"200\",token=\"t\"} 1\n",
		},
		{
			name: "http.request with a string body and any method",
			script: `d = http.request("put", vars["url"] + "/echo", body="raw").json()
metrics.gauge("ok", 1, labels={"method": d["method"], "body": d["body"]})`,
			vars: map[string]any{"url": srv.URL},
			want: "# TYPE ok gauge\nok{body=\"raw\",method=\"PUT\"} 1\n",
		},
		{
			name:   "an HTTP error status is a response, not a failure",
			script: `r = http.get(vars["url"] + "/missing"); metrics.gauge("status", r.status)`,
			vars:   map[string]any{"url": srv.URL},
			want:   "# TYPE status gauge\nstatus 404\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]any{"script": tc.script}
			if tc.vars != nil {
				cfg["vars"] = tc.vars
			}
			var logs bytes.Buffer
			got, err := sdk.Collect(configJSON(t, cfg), &logs)
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

// TestErrors is the table of what a user sees when a script goes wrong: each
// message names the script and, for a runtime error, carries the backtrace
// with file:line:col.
func TestErrors(t *testing.T) {
	srv := statsServer(t)
	closedPort := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}()
	for _, tc := range []struct {
		name   string
		config string
		want   []string
	}{
		{
			name:   "syntax error with its line",
			config: `{"script": "x = 1\ny = (\n"}`,
			want:   []string{"inline script does not compile: script:3:1: got end of file, want primary expression"},
		},
		{
			name:   "every undefined name at once",
			config: `{"script": "x = foo\ny = bar\n"}`,
			want:   []string{"inline script does not compile:\nscript:1:5: undefined: foo\nscript:2:5: undefined: bar"},
		},
		{
			name:   "runtime error with backtrace",
			config: `{"script": "def f(d):\n    return d[\"missing\"]\n\nf({})\n"}`,
			want: []string{
				"inline script failed:\nTraceback (most recent call last):\n  script:4:2: in <toplevel>\n  script:2:13: in f\nError: key \"missing\" not in dict",
			},
		},
		{
			name:   "fail() with the script's message",
			config: `{"script": "fail(\"stats endpoint answered %d\" % 503)"}`,
			want:   []string{"inline script failed:\nTraceback (most recent call last):\n  script:1:5: in <toplevel>\nError in fail: stats endpoint answered 503"},
		},
		{
			name:   "script_file positions name the file",
			config: `{"script_file": "testdata/queue.star", "vars": {}}`,
			want:   []string{"script testdata/queue.star failed:\nTraceback (most recent call last):\n  testdata/queue.star:4:21: in <toplevel>\nError: key \"url\" not in dict"},
		},
		{
			name:   "the golden script's own fail()",
			config: fmt.Sprintf(`{"script_file": "testdata/queue.star", "vars": {"url": "%s/down"}}`, srv.URL),
			want:   []string{"script testdata/queue.star failed:\nTraceback (most recent call last):\n  testdata/queue.star:6:9: in <toplevel>\nError in fail: stats endpoint answered 503: maintenance\n"},
		},
		{
			name:   "step limit",
			config: `{"script": "n = 0\nfor i in range(1000000):\n    n += i\n", "max_steps": 1000}`,
			want: []string{
				"inline script failed:\nTraceback (most recent call last):\n  script:",
				"Starlark computation cancelled: the script exceeded max_steps (1000); raise max_steps in the collector config if it really needs more",
			},
		},
		{
			name:   "default step limit ends a runaway loop",
			config: `{"script": "for i in range(1000000000):\n    pass\n"}`,
			want:   []string{"the script exceeded max_steps (10000000)"},
		},
		{
			name:   "recursion is off",
			config: `{"script": "def f(n):\n    return f(n - 1)\nf(1)\n"}`,
			want:   []string{"script:2:13: in f\n  script:2:12: in f\nError: function f called recursively"},
		},
		{
			name:   "while is off",
			config: `{"script": "while True:\n    pass\n"}`,
			want:   []string{"inline script does not compile: script:1:1: this Starlark dialect does not support while loops"},
		},
		{
			name:   "load is refused",
			config: `{"script": "load(\"other.star\", \"x\")\n"}`,
			want:   []string{"cannot load other.star: load() is not supported: a collector script is a single file"},
		},
		{
			name:   "bad metric name at its line",
			config: `{"script": "\nmetrics.gauge(\"faust-queue-depth\", 1)"}`,
			want:   []string{"script:2:14: in <toplevel>\nError in metrics.gauge: metric \"faust-queue-depth\": invalid metric name; it must match [a-zA-Z_:][a-zA-Z0-9_:]*"},
		},
		{
			name:   "bad label name",
			config: `{"script": "metrics.gauge(\"g\", 1, labels={\"queue-name\": \"a\"})"}`,
			want:   []string{`Error in metrics.gauge: metric "g": invalid label name "queue-name"`},
		},
		{
			name:   "the SDK's checks still apply: a series twice",
			config: `{"script": "metrics.gauge(\"g\", 1)\nmetrics.gauge(\"g\", 2)"}`,
			want:   []string{`metric "g": series {} added more than once`},
		},
		{
			name:   "the SDK's checks still apply: histogram buckets not cumulative",
			config: `{"script": "metrics.histogram(\"h\", buckets={1: 5, 2: 3}, count=5, sum=1)"}`,
			want:   []string{`metric "h": histogram bucket le=2 has count 3`},
		},
		{
			name:   "a value that is not a number",
			config: `{"script": "metrics.gauge(\"g\", \"42\")"}`,
			want:   []string{"Error in metrics.gauge: metrics.gauge: value: got string, want int or float"},
		},
		{
			name:   "a negative counter",
			config: `{"script": "metrics.counter(\"c_total\", -1)"}`,
			want:   []string{`Error in metrics.counter: metric "c_total": counter value -1 is negative`},
		},
		{
			name:   "http to a closed port",
			config: fmt.Sprintf(`{"script": "http.get(\"http://%s/stats\")"}`, closedPort),
			want:   []string{"script:1:9: in <toplevel>\nError in http.get: Get \"http://" + closedPort + "/stats\": dial tcp " + closedPort + ": connect: connection refused"},
		},
		{
			name:   "timeout= bounds one request",
			config: fmt.Sprintf(`{"script": "http.get(\"%s/slow\", timeout=0.05)"}`, srv.URL),
			want:   []string{"Error in http.get: Get \"" + srv.URL + "/slow\": context deadline exceeded"},
		},
		{
			name:   "timeout= must be positive",
			config: fmt.Sprintf(`{"script": "http.get(\"%s/slow\", timeout=0)"}`, srv.URL),
			want:   []string{"http.get: timeout must be a positive number of seconds, got 0"},
		},
		{
			name:   "a body that is not JSON",
			config: fmt.Sprintf(`{"script": "http.get(\"%s/missing\").json()"}`, srv.URL),
			want:   []string{"Error in response.json: body of " + srv.URL + "/missing is not JSON: json.decode: at offset 4, unexpected character 'p' after value"},
		},
		{
			name:   "missing script_file",
			config: `{"script_file": "testdata/nope.star"}`,
			want:   []string{"reading script_file: open testdata/nope.star: no such file or directory (is its directory mounted?)"},
		},
		{
			name:   "no script",
			config: `{"vars": []}`,
			want:   []string{`config: one of "script" or "script_file" is required`, `config: "vars" must be a JSON object, got []`},
		},
		{
			name:   "both scripts",
			config: `{"script": "x = 1", "script_file": "a.star"}`,
			want:   []string{`config: "script" and "script_file" are mutually exclusive`},
		},
		{
			name:   "unknown config key",
			config: `{"scrpt": "x = 1"}`,
			want:   []string{`unknown field "scrpt"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := sdk.Collect([]byte(tc.config), nil)
			if err == nil {
				t.Fatalf("collect succeeded with %q", out)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error:\n%v\nwant one containing:\n%s", err, want)
				}
			}
			if out != nil {
				t.Errorf("failed run produced output %q", out)
			}
		})
	}
}

// TestCompiledOnce proves that the warm instance's runs reuse the compiled
// program: only a new or changed script is compiled.
func TestCompiledOnce(t *testing.T) {
	collect := func(cfg map[string]any) {
		t.Helper()
		if _, err := sdk.Collect(configJSON(t, cfg), nil); err != nil {
			t.Fatal(err)
		}
	}
	compiles := func() int {
		_, n := programs.stats()
		return n
	}
	inline := map[string]any{"script": `metrics.gauge("g", vars["v"])`, "vars": map[string]any{"v": 1}}
	start := compiles()
	for i := range 5 {
		inline["vars"] = map[string]any{"v": i} // vars are per run, not part of the program
		collect(inline)
	}
	if got := compiles() - start; got != 1 {
		t.Errorf("5 runs of one inline script compiled it %d times, want 1", got)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "s.star")
	write := func(src string) {
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file := map[string]any{"script_file": path}
	write(`metrics.gauge("a", 1)`)
	start = compiles()
	collect(file)
	collect(file)
	if got := compiles() - start; got != 1 {
		t.Errorf("2 runs of one script_file compiled it %d times, want 1", got)
	}
	// Same size, same second: an mtime-based key would run the stale program.
	write(`metrics.gauge("b", 1)`)
	out, err := sdk.Collect(configJSON(t, file), nil)
	if err != nil || !strings.Contains(string(out), "b 1") {
		t.Errorf("after editing the file: %q, %v", out, err)
	}
	if got := compiles() - start; got != 2 {
		t.Errorf("an edited script_file: %d compilations, want 2", got)
	}

	// A broken script is not cached; fixing it is picked up at once.
	write(`metrics.gauge(`)
	if _, err := sdk.Collect(configJSON(t, file), nil); err == nil {
		t.Error("broken script succeeded")
	}
	write(`metrics.gauge("b", 1)`)
	collect(file) // still cached from before
	if got := compiles() - start; got != 3 {
		t.Errorf("after a broken edit and its fix: %d compilations, want 3", got)
	}
}

func TestCacheIsBounded(t *testing.T) {
	for i := range 3 * maxCachedPrograms {
		if _, err := sdk.Collect(configJSON(t, map[string]any{"script": fmt.Sprintf("x = %d", i)}), nil); err != nil {
			t.Fatal(err)
		}
	}
	if cached, _ := programs.stats(); cached != maxCachedPrograms {
		t.Errorf("cache holds %d programs, want at most %d", cached, maxCachedPrograms)
	}
	// The most recently used entry survives newer ones; the oldest goes.
	_, before := programs.stats()
	keep := map[string]any{"script": "x = 0"}
	sdk.Collect(configJSON(t, keep), nil)
	for i := range maxCachedPrograms - 1 {
		sdk.Collect(configJSON(t, map[string]any{"script": fmt.Sprintf("y = %d", i)}), nil)
		sdk.Collect(configJSON(t, keep), nil)
	}
	if _, after := programs.stats(); after-before != maxCachedPrograms {
		t.Errorf("%d compilations, want %d: the script in use was evicted", after-before, maxCachedPrograms)
	}
}

// errNoNetwork keeps fuzzed scripts off the network.
var errNoNetwork = errors.New("no network in fuzz tests")

// FuzzScript runs arbitrary script source with a small step budget: whatever
// the source, the run must end, must not panic (the SDK turns a panic into
// an error, so that is checked by message), and what it emits must parse.
func FuzzScript(f *testing.F) {
	orig := doHTTP
	doHTTP = func(httpcall.Request) (*httpcall.Response, error) { return nil, errNoNetwork }
	f.Cleanup(func() { doHTTP = orig })
	queue, err := os.ReadFile("testdata/queue.star")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(queue),
		`metrics.gauge("g", 1, labels={"a": "b"})`,
		`metrics.histogram("h", buckets={"+Inf": 1, 0.5: 1}, count=1, sum=0.1)`,
		`metrics.summary("s", quantiles={2: 1}, count=1, sum=1)`,
		`log.info("x", a=1); print(vars)`,
		`http.get("http://127.0.0.1:1/").json()`,
		`def f(): return f()` + "\nf()",
		"for i in range(10000000):\n    pass",
		`json.decode("[1, 2, {\"a\": null}]")`,
		`time.now() - time.now()`,
		`load("x", "y")`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		cfg := configJSON(t, map[string]any{"script": src, "max_steps": 10000, "vars": map[string]any{"url": "http://127.0.0.1:1/"}})
		out, err := sdk.Collect(cfg, nil)
		if err != nil {
			if strings.Contains(err.Error(), "panicked") {
				t.Fatalf("panic: %v", err)
			}
			return
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		if _, err := p.TextToMetricFamilies(bytes.NewReader(out)); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
	})
}
