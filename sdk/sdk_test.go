package sdk

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// collectWith runs fn as the host would and returns stdout, the logs and
// the error.
func collectWith(t *testing.T, config string, fn CollectFunc) (string, string, error) {
	t.Helper()
	var out, logs bytes.Buffer
	err := run(fn, []byte(config), &out, &logs)
	return out.String(), logs.String(), err
}

func TestOutputIsCanonical(t *testing.T) {
	out, _, err := collectWith(t, "", func(c *Collection) error {
		// Added out of order, on purpose.
		g := c.Gauge("z_temperature_celsius", "Temperature.")
		g.Set(21.5, "room", "kitchen", "floor", "1")
		g.Set(19, "floor", "0", "room", "cellar")
		cpu := c.Counter("a_cpu_seconds_total", "CPU time.").With("cpu", "1")
		cpu.Set(2, "mode", "user")
		cpu.Set(1, "mode", "idle")
		c.Counter("a_cpu_seconds_total", "").Set(3, "cpu", "0", "mode", "user")
		c.Untyped("m_untyped", "Untyped.").Set(math.Inf(1))
		c.Histogram("h_seconds", "Latency.").Set(10, 4.5, map[float64]uint64{1: 7, 0.1: 2}, "path", "/")
		c.Summary("s_seconds", "Latency.").Set(10, 4.5, map[float64]float64{0.99: 0.8, 0.5: 0.3})
		c.Gauge("empty_family", "Added but never set: left out.")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `# HELP a_cpu_seconds_total CPU time.
# TYPE a_cpu_seconds_total counter
a_cpu_seconds_total{cpu="0",mode="user"} 3
a_cpu_seconds_total{cpu="1",mode="idle"} 1
a_cpu_seconds_total{cpu="1",mode="user"} 2
# HELP h_seconds Latency.
# TYPE h_seconds histogram
h_seconds_bucket{path="/",le="0.1"} 2
h_seconds_bucket{path="/",le="1"} 7
h_seconds_bucket{path="/",le="+Inf"} 10
h_seconds_sum{path="/"} 4.5
h_seconds_count{path="/"} 10
# HELP m_untyped Untyped.
# TYPE m_untyped untyped
m_untyped +Inf
# HELP s_seconds Latency.
# TYPE s_seconds summary
s_seconds{quantile="0.5"} 0.3
s_seconds{quantile="0.99"} 0.8
s_seconds_sum 4.5
s_seconds_count 10
# HELP z_temperature_celsius Temperature.
# TYPE z_temperature_celsius gauge
z_temperature_celsius{floor="0",room="cellar"} 19
z_temperature_celsius{floor="1",room="kitchen"} 21.5
`
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	// The agent parses it back; internal/sdkcheck proves the agent's parser
	// agrees, here the SDK's own must.
	if _, err := ParseText([]byte(out)); err != nil {
		t.Errorf("output does not parse: %v", err)
	}
}

func TestMistakesFailTheRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fn      CollectFunc
		wantErr []string
	}{
		{
			name:    "invalid metric name",
			fn:      func(c *Collection) error { c.Gauge("node-load1", "").Set(1); return nil },
			wantErr: []string{`metric "node-load1": invalid metric name; it must match [a-zA-Z_:][a-zA-Z0-9_:]*`},
		},
		{
			name:    "invalid label name",
			fn:      func(c *Collection) error { c.Gauge("g", "").Set(1, "0cpu", "x"); return nil },
			wantErr: []string{`metric "g": invalid label name "0cpu"`},
		},
		{
			name:    "odd label arguments",
			fn:      func(c *Collection) error { c.Gauge("g", "").With("cpu").Set(1, "0", "mode"); return nil },
			wantErr: []string{`metric "g": labels must be given as name, value pairs; got an odd number of arguments ["cpu" "0" "mode"]`},
		},
		{
			name:    "duplicate series",
			fn:      func(c *Collection) error { g := c.Gauge("g", ""); g.Set(1, "a", "1"); g.Set(2, "a", "1"); return nil },
			wantErr: []string{`metric "g": series {a="1"} added more than once`},
		},
		{
			name:    "same label twice",
			fn:      func(c *Collection) error { c.Gauge("g", "").With("a", "1").Set(1, "a", "2"); return nil },
			wantErr: []string{`metric "g": label "a" given twice`},
		},
		{
			name:    "type conflict",
			fn:      func(c *Collection) error { c.Gauge("x", "").Set(1); c.Counter("x", "").Set(1, "a", "b"); return nil },
			wantErr: []string{`metric "x": added as COUNTER, but already present as GAUGE`},
		},
		{
			name: "help conflict",
			fn: func(c *Collection) error {
				c.Gauge("x", "One.").Set(1)
				c.Gauge("x", "Two.").Set(1, "a", "b")
				return nil
			},
			wantErr: []string{`metric "x": help "Two." differs from the earlier "One."`},
		},
		{
			name:    "negative counter",
			fn:      func(c *Collection) error { c.Counter("x_total", "").Set(-1); return nil },
			wantErr: []string{`metric "x_total": counter value -1 is negative`},
		},
		{
			name:    "reserved histogram label",
			fn:      func(c *Collection) error { c.Histogram("h", "").Set(1, 1, nil, "le", "1"); return nil },
			wantErr: []string{`metric "h": label name "le" is reserved for HISTOGRAM buckets`},
		},
		{
			name:    "buckets not cumulative",
			fn:      func(c *Collection) error { c.Histogram("h", "").Set(5, 1, map[float64]uint64{1: 3, 2: 2}); return nil },
			wantErr: []string{`metric "h": histogram bucket le=2 has count 2`},
		},
		{
			name:    "quantile out of range",
			fn:      func(c *Collection) error { c.Summary("s", "").Set(1, 1, map[float64]float64{1.5: 1}); return nil },
			wantErr: []string{`metric "s": summary quantile 1.5 is outside [0, 1]`},
		},
		{
			name: "all mistakes are reported",
			fn: func(c *Collection) error {
				c.Gauge("a-b", "").Set(1)
				c.Gauge("ok", "").Set(1, "x")
				return nil
			},
			wantErr: []string{`metric "a-b"`, `metric "ok"`},
		},
		{
			name: "too many mistakes are cut short",
			fn: func(c *Collection) error {
				for range 15 {
					c.Gauge("g", "").Set(1, "x")
				}
				return nil
			},
			wantErr: []string{"and 5 more errors"},
		},
		{
			name:    "panic",
			fn:      func(c *Collection) error { var m map[string]int; m["x"] = 1; return nil },
			wantErr: []string{"collect function panicked: assignment to entry in nil map"},
		},
		{
			name:    "nothing registered",
			wantErr: []string{"sdk: no collect function registered; call sdk.Register from the plugin's init function"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, logs, err := collectWith(t, "", tc.fn)
			if err == nil {
				t.Fatalf("run succeeded with output:\n%s", out)
			}
			if out != "" {
				t.Errorf("failed run wrote %q", out)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if !strings.Contains(logs, `level=ERROR msg="collect failed"`) {
				t.Errorf("the error was not logged: %q", logs)
			}
		})
	}
}

func TestDecodeConfig(t *testing.T) {
	type config struct {
		Dir   string `json:"dir"`
		Limit int    `json:"limit"`
	}
	for _, tc := range []struct {
		config  string
		want    config
		wantErr string
	}{
		{config: ``, want: config{Dir: "/default", Limit: 1}},
		{config: "  \n", want: config{Dir: "/default", Limit: 1}},
		{config: `null`, want: config{Dir: "/default", Limit: 1}},
		{config: `{"dir": "/x"}`, want: config{Dir: "/x", Limit: 1}},
		{config: `{"dri": "/x"}`, wantErr: `sdk: decoding config: json: unknown field "dri"`},
		{config: `{"limit": "ten"}`, wantErr: `sdk: decoding config: json: cannot unmarshal string into Go struct field config.limit of type int`},
		{config: `{"dir": "/x"} {}`, wantErr: "sdk: decoding config: unexpected data after the JSON value"},
		{config: `{"dir": `, wantErr: "sdk: decoding config: unexpected EOF"},
	} {
		cfg := config{Dir: "/default", Limit: 1}
		err := newCollection([]byte(tc.config), nil).DecodeConfig(&cfg)
		switch {
		case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
			t.Errorf("config %q: error %v, want %q", tc.config, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || cfg != tc.want):
			t.Errorf("config %q: got %+v, %v; want %+v", tc.config, cfg, err, tc.want)
		}
	}
}

func TestAddFamily(t *testing.T) {
	parse := func(text string) []*Family {
		fams, err := ParseText([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return fams
	}
	var addErrs []error
	out, _, err := collectWith(t, "", func(c *Collection) error {
		c.Counter("jobs_total", "Jobs.").Set(1, "queue", "a")
		for _, f := range parse(`# TYPE jobs_total counter
jobs_total{queue="b"} 2
# HELP stamped Has a timestamp.
# TYPE stamped gauge
stamped 1 1700000000000
`) {
			addErrs = append(addErrs, c.AddFamily(f))
		}
		for _, f := range parse("# TYPE jobs_total gauge\njobs_total{queue=\"c\"} 3\n") {
			if err := c.AddFamily(f); err == nil {
				t.Error("a type conflict was accepted")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(addErrs) != 2 || addErrs[0] != nil || addErrs[1] == nil ||
		addErrs[1].Error() != `sdk: metric "stamped": series {} has a timestamp; the Pushgateway rejects timestamped samples` {
		t.Errorf("AddFamily errors = %v", addErrs)
	}
	want := "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total{queue=\"a\"} 1\njobs_total{queue=\"b\"} 2\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

func TestLogs(t *testing.T) {
	_, logs, err := collectWith(t, "", func(c *Collection) error {
		c.Logf("read %d files", 3)
		c.Warnf("skipping %s", "a.prom")
		c.Logger().Debug("detail", "file", "b.prom")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "level=INFO msg=\"read 3 files\"\nlevel=WARN msg=\"skipping a.prom\"\nlevel=DEBUG msg=detail file=b.prom\n"
	if logs != want {
		t.Errorf("logs:\n%s\nwant:\n%s", logs, want)
	}
}

func TestConcurrentBuilders(t *testing.T) {
	out, _, err := collectWith(t, "", func(c *Collection) error {
		done := make(chan struct{})
		g := c.Gauge("g", "")
		for i := range 4 {
			go func() {
				defer func() { done <- struct{}{} }()
				g.Set(float64(i), "worker", string(rune('a'+i)))
			}()
		}
		for range 4 {
			<-done
		}
		return nil
	})
	if err != nil || strings.Count(out, "\ng{") != 4 {
		t.Errorf("output %q, error %v", out, err)
	}
}
