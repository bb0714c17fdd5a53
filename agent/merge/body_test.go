package merge

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	clientpush "github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"

	"github.com/pushagent/pushagent/agent/push"
)

// capture is client_golang's HTTP doer that keeps the body it is given:
// what the Pushgateway would receive, without a network.
type capture struct{ body []byte }

func (c *capture) Do(req *http.Request) (*http.Response, error) {
	var err error
	c.body, err = io.ReadAll(req.Body)
	return &http.Response{StatusCode: http.StatusAccepted, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}, Request: req}, err
}

func pushBody(t *testing.T, fams []*dto.MetricFamily) []byte {
	t.Helper()
	c := &capture{}
	err := clientpush.New("http://gateway.invalid:9091", "job1").Grouping("instance", "i").Client(c).Gatherer(gathered(fams)).Push()
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	return c.body
}

// referenceGatewayFamilies is what the Pushgateway output made of the
// reference merge's families: no timestamps, no gateway-owned families.
func referenceGatewayFamilies(fams []*dto.MetricFamily) []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, f := range fams {
		if n := f.GetName(); n == "push_time_seconds" || n == "push_failure_time_seconds" {
			continue
		}
		for _, m := range f.Metric {
			m.TimestampMs = nil
		}
		out = append(out, f)
	}
	return out
}

// watData reads the strings a hostile plugin's .wat writes to memory.
var watData = regexp.MustCompile(`\(data \(i32\.const \d+\) "((?:[^"\\]|\\.)*)"\)`)

func watString(t *testing.T, s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '"', '\\', '\'':
			b.WriteByte(s[i])
		default:
			v, err := strconv.ParseUint(s[i:i+2], 16, 8)
			if err != nil {
				t.Fatalf("wat escape \\%s: %v", s[i:i+2], err)
			}
			b.WriteByte(byte(v))
			i++
		}
	}
	return b.String()
}

// bodyCases are job runs to push: the merge goldens' runs, each hostile
// plugin's output beside the good one's, and the bundled plugins' golden
// outputs, alone and two by two.
func bodyCases(t *testing.T) map[string][]Result {
	cases := map[string][]Result{
		"two_collectors": {
			{Collector: "a", Output: []byte("# HELP q Queue depth.\n# TYPE q gauge\nq{queue=\"x\"} 3\n"), Duration: time.Second},
			{Collector: "b", Labels: map[string]string{"team": "t"}, Output: []byte("# TYPE up_total counter\nup_total 7\n")},
		},
		"reserved_labels_and_timestamps": {
			{Collector: "a", Labels: map[string]string{"zone": "z1"}, Output: []byte("m{job=\"j\",instance=\"i\",zone=\"own\"} 1 1700000000000\n")},
		},
		"first_collector_wins": {
			{Collector: "a", Output: []byte("# TYPE m gauge\nm{k=\"1\"} 1\n# HELP h Same.\n# TYPE h gauge\nh 1\n")},
			{Collector: "b", Output: []byte("# TYPE m counter\nm{k=\"2\"} 2\n# HELP h Same.\n# TYPE h gauge\nh 2\nh{x=\"y\"} 3\n")},
		},
		"bad_output_does_not_block_others": {
			{Collector: "bad", Output: []byte("this is { not exposition\n")},
			{Collector: "good", Output: []byte("ok 1\n")},
		},
		"series_limit_fails_only_its_collector": {
			{Collector: "many", SeriesLimit: 2, Output: []byte("a 1\nb 1\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n")},
			{Collector: "few", SeriesLimit: 2, Output: []byte("c 1\n# TYPE h2 histogram\nh2_bucket{le=\"+Inf\"} 1\nh2_sum 1\nh2_count 1\n")},
		},
		"reserved_names_dropped": {
			{Collector: "a", Output: []byte("pushagent_collector_success 1\npush_time_seconds 5\nkept 1\n")},
		},
	}
	wats, _ := filepath.Glob("../testdata/hostile/*.wat")
	good := []byte("# TYPE hostile_good gauge\nhostile_good 1\n")
	for _, w := range wats {
		src, err := os.ReadFile(w)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range watData.FindAllStringSubmatch(string(src), -1) {
			cases["hostile/"+filepath.Base(w)+"/"+strconv.Itoa(i)] = []Result{
				{Collector: "hostile", Output: []byte(watString(t, m[1]))}, {Collector: "good", Output: good},
			}
		}
	}
	goldens, _ := filepath.Glob("../../plugins/*/testdata/*.prom")
	if len(wats) == 0 || len(goldens) == 0 {
		t.Fatal("no hostile plugins or plugin goldens found")
	}
	for i, g := range goldens {
		text, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		cases[g] = []Result{{Collector: "c", Output: text, Labels: map[string]string{"site": "s1"}}}
		next, err := os.ReadFile(goldens[(i+1)%len(goldens)])
		if err != nil {
			t.Fatal(err)
		}
		cases[g+"+next"] = []Result{{Collector: "a", Output: text}, {Collector: "b", Output: next}, {Collector: "c", Output: text}}
	}
	return cases
}

// TestPushBodyUnchanged: the Pushgateway's body, written from the batch,
// is byte for byte the one the agent sent when it merged expfmt families.
func TestPushBodyUnchanged(t *testing.T) {
	cases := bodyCases(t)
	t.Logf("%d runs", len(cases))
	for name, results := range cases {
		j := Job{Name: "job1", Reserved: []string{"instance"}}
		ref, _ := j.referenceMerge(results)
		want := pushBody(t, referenceGatewayFamilies(ref))
		b, _ := j.MergeBatch(results)
		fams, _, _ := push.Families(b)
		got := pushBody(t, fams)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: body differs (%d bytes, was %d)\nnow: %q\nwas: %q", name, len(got), len(want), got, want)
		}
	}
}
