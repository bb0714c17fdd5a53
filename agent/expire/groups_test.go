package expire

import (
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/agent/config"
)

// unix turns float seconds, as the gateway writes them, into a time.
func unix(sec float64) time.Time {
	s, frac := math.Modf(sec)
	return time.Unix(int64(s), int64(frac*1e9))
}

// TestDecodeRealAnswer decodes an answer of Pushgateway 1.5.1, captured with
// curl from /api/v1/metrics after pushing: a plain group, a group whose last
// push failed, a group created by a failed push (push_time_seconds 0), a job
// with a slash (pushed as job@base64), an empty label value, histograms and
// summaries, and a metric named "labels", which the gateway lets overwrite
// the group's labels. To capture again, push such groups to a gateway and
// run: curl -s http://127.0.0.1:9091/api/v1/metrics > testdata/pushgateway-1.5.1.json
func TestDecodeRealAnswer(t *testing.T) {
	f, err := os.Open("testdata/pushgateway-1.5.1.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	groups, err := decodeGroups(f)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		labels   map[string]string
		lastSeen float64 // 0: unknown
	}
	wants := []want{
		{nil, 0}, // the metric named "labels" hid the grouping key: kept, whatever its age
		{map[string]string{"job": "fail", "instance": "new"}, 1.7955638247622666e+09}, // only a failed push
		{map[string]string{"job": "hist", "instance": "h1", "zone": "eu"}, 1.795564061219028e+09},
		{map[string]string{"job": "my/job", "instance": ""}, 1.795563628567167e+09},
		{map[string]string{"job": "myjob", "instance": "a"}, 1.7955638247753227e+09}, // the later failure
		{map[string]string{"job": "other"}, 1.7955636285840683e+09},
		{map[string]string{"job": "sp", "instance": "a b"}, 1.7955637343616028e+09},
		{map[string]string{"job": "sp+job", "instance": "c+d"}, 1.7955637497934513e+09},
	}
	slices.SortFunc(groups, func(a, b group) int {
		return strings.Compare(config.FormatGrouping(a.Labels), config.FormatGrouping(b.Labels))
	})
	slices.SortFunc(wants, func(a, b want) int {
		return strings.Compare(config.FormatGrouping(a.labels), config.FormatGrouping(b.labels))
	})
	if len(groups) != len(wants) {
		t.Fatalf("got %d groups, want %d: %+v", len(groups), len(wants), groups)
	}
	for i, w := range wants {
		g := groups[i]
		if !reflect.DeepEqual(g.Labels, w.labels) {
			t.Errorf("group %d labels = %v, want %v", i, g.Labels, w.labels)
		}
		switch {
		case w.lastSeen == 0 && !g.LastSeen.IsZero():
			t.Errorf("group %v: LastSeen = %v, want unknown", w.labels, g.LastSeen)
		case w.lastSeen != 0 && g.LastSeen.Sub(unix(w.lastSeen)).Abs() > time.Microsecond:
			t.Errorf("group %v: LastSeen = %v, want %v", w.labels, g.LastSeen, unix(w.lastSeen))
		}
	}
}

func TestDecodeAnswers(t *testing.T) {
	const ts = `"push_time_seconds": {"metrics": [{"value": "1700000000.5"}]}`
	cases := []struct {
		name    string
		in      string
		want    []group
		wantErr string
	}{
		{name: "no groups", in: `{"status":"success","data":[]}`, want: nil},
		{name: "data null", in: `{"status":"success","data":null}`, want: nil},
		{name: "status after data, unknown members", in: `{"data":[{"labels":{"job":"j"},` + ts + `}],"warnings":["x"],"status":"success"}`,
			want: []group{{Labels: map[string]string{"job": "j"}, LastSeen: unix(1700000000.5)}}},
		{name: "value as a JSON number", in: `{"status":"success","data":[{"labels":{"job":"j"},"push_time_seconds":{"metrics":[{"value":1700000000}]}}]}`,
			want: []group{{Labels: map[string]string{"job": "j"}, LastSeen: unix(1700000000)}}},
		{name: "the latest of several samples", in: `{"status":"success","data":[{"labels":{"job":"j"},"push_time_seconds":{"metrics":[{"value":"5"},{"value":"1700000000"},{"value":"x"}]}}]}`,
			want: []group{{Labels: map[string]string{"job": "j"}, LastSeen: unix(1700000000)}}},
		{name: "no time", in: `{"status":"success","data":[{"labels":{"job":"j"}}]}`,
			want: []group{{Labels: map[string]string{"job": "j"}}}},
		{name: "times that are not times", in: `{"status":"success","data":[{"labels":{"job":"j"},"push_time_seconds":{"metrics":[{"value":"NaN"},{"value":"+Inf"},{"value":"-5"},{"value":"1e300"},{"value":null},{"value":true},{}]},"push_failure_time_seconds":{"metrics":[{"value":"0"}]}}]}`,
			want: []group{{Labels: map[string]string{"job": "j"}}}},
		{name: "a group that is not an object", in: `{"status":"success","data":[7,"x",null,{"labels":{"job":"j"},` + ts + `}]}`,
			want: []group{{}, {}, {}, {Labels: map[string]string{"job": "j"}, LastSeen: unix(1700000000.5)}}},
		{name: "a label value that is not a string", in: `{"status":"success","data":[{"labels":{"job":"j","n":1},` + ts + `}]}`,
			want: []group{{}}},
		{name: "push_time_seconds of the wrong shape", in: `{"status":"success","data":[{"labels":{"job":"j"},"push_time_seconds":[1]}]}`,
			want: []group{{}}},
		{name: "error answer", in: `{"status":"error","errorType":"internal","error":"boom"}`, wantErr: `the gateway answered status "error": boom`},
		{name: "no status", in: `{"data":[]}`, wantErr: `the gateway answered status "", want "success"`},
		{name: "no data", in: `{"status":"success"}`, wantErr: `the gateway's answer has no "data"`},
		{name: "data is an object", in: `{"status":"success","data":{}}`, wantErr: `"data" is not a list of groups`},
		{name: "not an object", in: `[]`, wantErr: `unexpected [ in the gateway's answer, want "{"`},
		{name: "HTML", in: `<html>`, wantErr: `the gateway's answer is not the JSON of a group list: invalid character '<' looking for beginning of value`},
		{name: "empty", in: ``, wantErr: `the gateway's answer is not the JSON of a group list: unexpected EOF`},
		{name: "cut short", in: `{"status":"success","data":[{"labels":`, wantErr: `the gateway's answer is not the JSON of a group list: unexpected EOF`},
		{name: "trailing data", in: `{"status":"success","data":[]} {}`, wantErr: `unexpected data after the JSON answer`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeGroups(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i].Labels, tc.want[i].Labels) || !got[i].LastSeen.Equal(tc.want[i].LastSeen) {
					t.Errorf("group %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestSelectStale(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	const maxAge = 10 * time.Minute
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	g := func(last time.Time, kv ...string) group {
		labels := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			labels[kv[i]] = kv[i+1]
		}
		return group{Labels: labels, LastSeen: last}
	}
	own := map[string]string{"instance": "a"}
	cases := []struct {
		name     string
		groups   []group
		grouping map[string]string
		want     []string // formatGrouping of the groups to delete, in order
		wantSkew bool
	}{{
		name: "another job's stale group is untouched",
		groups: []group{
			g(ago(time.Hour), "job", "other", "instance", "b"),
			g(ago(time.Hour), "job", "batch-x", "instance", "b"), // a prefix is not the job
			g(ago(time.Hour), "job", "Batch", "instance", "b"),   // nor another case
			g(ago(time.Hour), "instance", "b"),                   // no job label at all
		},
		grouping: own,
	}, {
		name:     "own fresh group untouched",
		groups:   []group{g(ago(time.Second), "job", "batch", "instance", "a")},
		grouping: own,
	}, {
		name: "stale groups of the job deleted, fresh ones kept",
		groups: []group{
			g(ago(time.Second), "job", "batch", "instance", "a"),
			g(ago(11*time.Minute), "job", "batch", "instance", "c"),
			g(ago(9*time.Minute), "job", "batch", "instance", "d"),
			g(ago(time.Hour), "job", "batch", "instance", "b"),
			g(ago(maxAge), "job", "batch", "instance", "e"), // exactly maxAge: not yet
		},
		grouping: own,
		want:     []string{`instance="b",job="batch"`, `instance="c",job="batch"`},
	}, {
		name: "same job, other label sets",
		groups: []group{
			g(ago(time.Hour), "job", "batch"),
			g(ago(time.Hour), "job", "batch", "instance", "a", "zone", "eu"),
			g(ago(time.Hour), "job", "batch", "instance", ""),
		},
		grouping: own,
		want:     []string{`instance="",job="batch"`, `instance="a",job="batch",zone="eu"`, `job="batch"`},
	}, {
		name: "a group with no time is never deleted",
		groups: []group{
			g(time.Time{}, "job", "batch", "instance", "b"),
			{},
		},
		grouping: own,
	}, {
		name:     "a group in the future is not stale",
		groups:   []group{g(now.Add(time.Hour), "job", "batch", "instance", "b")},
		grouping: own,
	}, {
		name: "no grouping: own group is the job alone",
		groups: []group{
			g(ago(time.Second), "job", "batch"),
			g(ago(time.Hour), "job", "batch", "instance", "b"),
		},
		grouping: nil,
		want:     []string{`instance="b",job="batch"`},
	}, {
		name: "own group old: clocks disagree, nothing deleted",
		groups: []group{
			g(ago(6*time.Minute), "job", "batch", "instance", "a"),
			g(ago(time.Hour), "job", "batch", "instance", "b"),
		},
		grouping: own,
		wantSkew: true,
	}, {
		name: "own group in the future: clocks disagree, nothing deleted",
		groups: []group{
			g(now.Add(6*time.Minute), "job", "batch", "instance", "a"),
			g(ago(time.Hour), "job", "batch", "instance", "b"),
		},
		grouping: own,
		wantSkew: true,
	}, {
		name: "own group absent: no clock check",
		groups: []group{
			g(ago(time.Hour), "job", "batch", "instance", "b"),
		},
		grouping: own,
		want:     []string{`instance="b",job="batch"`},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stale, skew := selectStale(tc.groups, "batch", tc.grouping, maxAge, now)
			if (skew != 0) != tc.wantSkew {
				t.Fatalf("skew = %v, want skew %v", skew, tc.wantSkew)
			}
			var got []string
			for _, s := range stale {
				got = append(got, config.FormatGrouping(s.Labels))
				if s.Age != now.Sub(s.LastSeen) {
					t.Errorf("%s: age %v, want %v", config.FormatGrouping(s.Labels), s.Age, now.Sub(s.LastSeen))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("deleted %q, want %q", got, tc.want)
			}
		})
	}
	if stale, _ := selectStale([]group{g(ago(time.Hour))}, "", nil, maxAge, now); len(stale) != 0 {
		t.Errorf("an empty job name selected %v", stale)
	}
}

// FuzzDecodeGroups checks that no answer makes the decoder panic, and that
// it never dates a group outside the range it believes.
func FuzzDecodeGroups(f *testing.F) {
	real, err := os.ReadFile("testdata/pushgateway-1.5.1.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	f.Add([]byte(`{"status":"success","data":[{"labels":{"job":"j"},"push_time_seconds":{"metrics":[{"value":"1.7e9"}]},"push_failure_time_seconds":{"metrics":[{"value":1.8e9}]}}]}`))
	f.Add([]byte(`{"status":"error","error":"x"}`))
	f.Add([]byte(`{"status":"success","data":[null,1,{"labels":null}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		groups, err := decodeGroups(strings.NewReader(string(data)))
		if err != nil {
			if groups != nil {
				t.Fatal("groups and an error")
			}
			return
		}
		for _, g := range groups {
			if g.LastSeen.IsZero() {
				continue
			}
			if s := g.LastSeen.Unix(); s < 0 || s > maxUnixSeconds {
				t.Fatalf("LastSeen %v out of range", g.LastSeen)
			}
		}
	})
}
