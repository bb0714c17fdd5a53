package merge

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

type gathered []*dto.MetricFamily

func (g gathered) Gather() ([]*dto.MetricFamily, error) { return g, nil }

func encode(t *testing.T, fams []*dto.MetricFamily) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// golden compares fams with testdata/<name>.prom through testutil (so the
// comparison is semantic, not textual) and rewrites it with -update.
func golden(t *testing.T, name string, fams []*dto.MetricFamily) {
	t.Helper()
	path := filepath.Join("testdata", name+".prom")
	if *update {
		if err := os.WriteFile(path, encode(t, fams), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run go test ./agent/merge -update to create it)", err)
	}
	defer want.Close()
	for _, f := range fams {
		if f.Help == nil {
			f.Help = new(string) // testutil reads an absent HELP as ""
		}
	}
	if err := testutil.GatherAndCompare(gathered(fams), want); err != nil {
		t.Errorf("%s: %v", path, err)
	}
}

func TestMergeRules(t *testing.T) {
	cases := []struct {
		name     string
		reserved []string
		results  []Result
		status   []Status // Success, Samples, Dropped checked
		logs     []string
	}{
		{
			name:     "two_collectors",
			reserved: []string{"instance"},
			results: []Result{
				{Collector: "a", Output: []byte("# HELP q Queue depth.\n# TYPE q gauge\nq{queue=\"x\"} 3\n"), Duration: time.Second},
				{Collector: "b", Labels: map[string]string{"team": "t"}, Output: []byte("# TYPE up_total counter\nup_total 7\n")},
			},
			status: []Status{{Success: true, Samples: 1}, {Success: true, Samples: 1}},
		},
		{
			name:     "reserved_labels_and_timestamps",
			reserved: []string{"instance"},
			results: []Result{
				{Collector: "a", Labels: map[string]string{"zone": "z1"}, Output: []byte("m{job=\"j\",instance=\"i\",zone=\"own\"} 1 1700000000000\n")},
			},
			status: []Status{{Success: true, Samples: 1}},
			logs:   []string{"label renamed to exported_job", "label renamed to exported_instance", "label renamed to exported_zone"},
		},
		{
			name: "first_collector_wins",
			results: []Result{
				{Collector: "a", Output: []byte("# TYPE m gauge\nm{k=\"1\"} 1\n# HELP h Same.\n# TYPE h gauge\nh 1\n")},
				{Collector: "b", Output: []byte("# TYPE m counter\nm{k=\"2\"} 2\n# HELP h Same.\n# TYPE h gauge\nh 2\nh{x=\"y\"} 3\n")},
			},
			status: []Status{{Success: true, Samples: 2}, {Success: true, Samples: 1, Dropped: 2}},
			logs:   []string{"has type COUNTER but should have GAUGE", "repeat series of an earlier collector", "first_from=a"},
		},
		{
			name: "bad_output_does_not_block_others",
			results: []Result{
				{Collector: "bad", Output: []byte("this is { not exposition\n")},
				{Collector: "failed", Err: errors.New("plugin x.wasm: timed out"), Output: []byte("late 1\n")},
				{Collector: "good", Output: []byte("ok 1\n")},
			},
			status: []Status{{}, {}, {Success: true, Samples: 1}},
			logs:   []string{"collector output rejected"},
		},
		{
			name: "series_limit_fails_only_its_collector",
			results: []Result{
				{Collector: "many", SeriesLimit: 2, Output: []byte("a 1\nb 1\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n")},
				{Collector: "few", SeriesLimit: 2, Output: []byte("c 1\n# TYPE h2 histogram\nh2_bucket{le=\"+Inf\"} 1\nh2_sum 1\nh2_count 1\n")},
			},
			status: []Status{{}, {Success: true, Samples: 2}},
			logs:   []string{"3 series, over the collector's series_limit of 2"},
		},
		{
			name: "reserved_names_dropped",
			results: []Result{
				{Collector: "a", Output: []byte("pushagent_collector_success 1\npush_time_seconds 5\nkept 1\n")},
			},
			status: []Status{{Success: true, Samples: 2, Dropped: 1}},
			logs:   []string{"reserved metric names dropped"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			j := Job{Name: "job1", Reserved: tc.reserved, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			fams, statuses := j.Merge(tc.results)
			golden(t, tc.name, zeroDurations(fams))
			for i, want := range tc.status {
				got := statuses[i]
				if got.Success != want.Success || got.Samples != want.Samples || got.Dropped != want.Dropped {
					t.Errorf("collector %s status = success %v samples %d dropped %d, want %v %d %d (err %v)",
						got.Collector, got.Success, got.Samples, got.Dropped, want.Success, want.Samples, want.Dropped, got.Err)
				}
			}
			for _, l := range tc.logs {
				if !strings.Contains(logs.String(), l) {
					t.Errorf("log lacks %q:\n%s", l, logs.String())
				}
			}
			if !strings.Contains(logs.String(), "job=job1") && logs.Len() > 0 {
				t.Errorf("log lines must name the job:\n%s", logs.String())
			}
			// What we return must pass the same checks the push applies.
			if _, err := (prometheus.Gatherers{gathered(fams)}).Gather(); err != nil {
				t.Errorf("merged families are inconsistent: %v", err)
			}
		})
	}
}

// zeroDurations makes the duration series deterministic for golden files.
func zeroDurations(fams []*dto.MetricFamily) []*dto.MetricFamily {
	for _, f := range fams {
		if f.GetName() == DurationName {
			for _, m := range f.Metric {
				m.Gauge.Value = new(float64)
			}
		}
	}
	return fams
}

func FuzzParseAndMerge(f *testing.F) {
	for _, s := range []string{
		"a 1\n", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
		"m{job=\"x\"} 1 123\n", "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\ns_count 1\n", "{", "m{a=\"\\\"\"} NaN\n",
	} {
		f.Add([]byte(s), []byte("b 2\n"))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		j := Job{Name: "fuzz", Reserved: []string{"instance"}}
		fams, _ := j.Merge([]Result{{Collector: "a", Output: a}, {Collector: "b", Output: b, Labels: map[string]string{"l": "v"}}})
		if _, err := (prometheus.Gatherers{gathered(fams)}).Gather(); err != nil {
			t.Fatalf("merged output is inconsistent: %v", err)
		}
	})
}
