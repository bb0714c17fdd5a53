package expire

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pushagent/pushagent/agent/config"
)

// group is what a sweep needs of one group in the gateway's list.
type group struct {
	// Labels is the grouping key, job included, exactly as the gateway
	// reports it.
	Labels map[string]string
	// LastSeen is the later of the last push and the last failed push, in
	// the gateway's clock; zero when the answer does not say, and then the
	// group is never deleted.
	LastSeen time.Time
}

// The answer of GET /api/v1/metrics, Pushgateway 1.5.1 (only what is used;
// each group also has one member per metric family, skipped):
//
//	{"status": "success", "data": [{
//	  "labels": {"instance": "a", "job": "myjob"},
//	  "last_push_successful": true,
//	  "push_time_seconds": {"time_stamp": "2026-11-24T23:40:28.54Z", "type": "GAUGE", "help": "…",
//	    "metrics": [{"labels": {"instance": "a", "job": "myjob"}, "value": "1.7955636285402315e+09"}]},
//	  "push_failure_time_seconds": {…, "metrics": [{…, "value": "0"}]},
//	  "some_metric": {…}
//	}]}
//
// Values are strings in Go's float format; 0 means never (a group created
// by a failed push has push_time_seconds 0). A family's time_stamp is the
// group's last change, also for push_failure_time_seconds when it never
// failed, so it is not used.
type wireGroup struct {
	Labels      map[string]string `json:"labels"`
	PushTime    wireFamily        `json:"push_time_seconds"`
	FailureTime wireFamily        `json:"push_failure_time_seconds"`
}

type wireFamily struct {
	Metrics []struct {
		Value json.RawMessage `json:"value"`
	} `json:"metrics"`
}

// decodeGroups reads the gateway's group list one group at a time, so a
// gateway holding many large groups does not need them all in memory at
// once. A group it cannot read is returned without labels or without a
// time, so it is never deleted; only an answer that is not a successful
// group list at all is an error.
func decodeGroups(r io.Reader) ([]group, error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	var (
		status, message string
		groups          []group
		sawData         bool
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, badJSON(err)
		}
		key, _ := tok.(string)
		switch key {
		case "status", "error":
			var v any
			if err := dec.Decode(&v); err != nil {
				return nil, badJSON(err)
			}
			s, _ := v.(string)
			if key == "status" {
				status = s
			} else {
				message = s
			}
		case "data":
			sawData = true
			groups, err = decodeData(dec)
			if err != nil {
				return nil, err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, badJSON(err)
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON answer")
	}
	switch {
	case status != "success":
		if message != "" {
			return nil, fmt.Errorf("the gateway answered status %q: %s", status, shorten(message))
		}
		return nil, fmt.Errorf("the gateway answered status %q, want \"success\"", status)
	case !sawData:
		return nil, errors.New(`the gateway's answer has no "data"`)
	}
	return groups, nil
}

// decodeData reads the "data" array: null or a list of groups.
func decodeData(dec *json.Decoder) ([]group, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, badJSON(err)
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, errors.New(`"data" is not a list of groups`)
	}
	var groups []group
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, badJSON(err)
		}
		groups = append(groups, decodeGroup(raw))
	}
	if err := expectDelim(dec, ']'); err != nil {
		return nil, err
	}
	return groups, nil
}

// decodeGroup reads one group. Anything unexpected leaves it without
// labels or time: a group we do not understand is a group we keep.
func decodeGroup(raw json.RawMessage) group {
	var w wireGroup
	if err := json.Unmarshal(raw, &w); err != nil {
		return group{}
	}
	g := group{Labels: w.Labels}
	push, okPush := latest(w.PushTime)
	fail, okFail := latest(w.FailureTime)
	switch {
	case okPush && okFail:
		g.LastSeen = maxTime(push, fail)
	case okPush:
		g.LastSeen = push
	case okFail:
		g.LastSeen = fail
	}
	return g
}

// maxUnixSeconds bounds timestamps we believe (about the year 5138); a
// larger one is garbage, and the group is kept.
const maxUnixSeconds = 1e11

// latest returns the latest valid time among a family's samples. Several
// samples cannot happen with the gateway we know; taking the latest keeps a
// group that has any recent sign of life.
func latest(f wireFamily) (time.Time, bool) {
	var (
		best  float64
		found bool
	)
	for _, m := range f.Metrics {
		v, ok := parseValue(m.Value)
		if !ok || v <= 0 || v >= maxUnixSeconds {
			continue
		}
		if !found || v > best {
			best, found = v, true
		}
	}
	if !found {
		return time.Time{}, false
	}
	sec, frac := math.Modf(best)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// parseValue reads a sample value: a JSON string in Go's float format (what
// the gateway sends) or a JSON number.
func parseValue(raw json.RawMessage) (float64, bool) {
	s := string(raw)
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return badJSON(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("unexpected %v in the gateway's answer, want %q", tok, string(want))
	}
	return nil
}

func badJSON(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("the gateway's answer is not the JSON of a group list: %w", err)
}

func shorten(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// staleGroup is a group a sweep deletes.
type staleGroup struct {
	group
	Age time.Duration
}

// selectStale returns the groups of job, other than the caller's own (job
// with grouping), last seen more than maxAge before now, sorted by grouping
// key. If the caller's own group is in the list and its last push is more
// than maxAge/2 away from now, the clocks disagree: it returns nothing and
// that distance as skew.
func selectStale(groups []group, job string, grouping map[string]string, maxAge time.Duration, now time.Time) (stale []staleGroup, skew time.Duration) {
	own := maps.Clone(grouping)
	if own == nil {
		own = map[string]string{}
	}
	own["job"] = job
	for _, g := range groups {
		if job == "" || g.Labels["job"] != job {
			continue // another job's, or no job label at all
		}
		if maps.Equal(g.Labels, own) {
			if d := now.Sub(g.LastSeen); !g.LastSeen.IsZero() && (d > maxAge/2 || d < -maxAge/2) {
				return nil, d
			}
			continue
		}
		if g.LastSeen.IsZero() {
			continue
		}
		if age := now.Sub(g.LastSeen); age > maxAge {
			stale = append(stale, staleGroup{group: g, Age: age})
		}
	}
	slices.SortFunc(stale, func(a, b staleGroup) int {
		return strings.Compare(config.FormatGrouping(a.Labels), config.FormatGrouping(b.Labels))
	})
	return stale, 0
}
