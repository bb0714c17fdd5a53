package web

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/pushagent/pushagent/agent"
)

//go:embed status.html.tmpl
var templates embed.FS

var statusPage = template.Must(template.New("status.html.tmpl").ParseFS(templates, "status.html.tmpl"))

// page is what the template shows: the statuses with every time already
// turned into text relative to one instant, so the template holds no logic
// that tests would have to reach through it.
type page struct {
	Generated when
	Version   string
	Shard     string // "" without a shard
	Jobs      []jobView
	Failing   int
	Outputs   []outputView
	Reload    reloadView
}

// reloadView is the last load of the config: at start, or the last reload.
type reloadView struct {
	Shown             bool // false before any load (a bare Snapshot)
	Initial, OK       bool
	When, LastSuccess when
	Changes           string // "jobs added: a; outputs changed: tsdb"
	Problems          []string
}

// jobView is a job's status as the page shows it. The status is embedded,
// not copied field by field; the fields here are only what the page
// derives from it (and shadow the raw ones of the same name).
type jobView struct {
	agent.JobStatus
	Anchor           string
	Method           string // upper case
	Grouping         []label
	State            string // "ok", "failing" or "pending": the CSS class
	StateText        string // what the badge says
	Problems         []string
	NextRun, LastRun when
	LastDuration     string
	Outputs          []pushView
	Collectors       []collectorView
	FailedCollectors int
}

type pushView struct {
	agent.PushStatus
	FailingSince       when
	LastSuccessfulPush when
}

type outputView struct {
	agent.OutputStatus
	RemoteWrite  bool   // an output with a disk buffer: remote_write or otlp
	Buffer       string // "1.2 MiB, oldest 3m ago"
	FailingSince when
}

type collectorView struct {
	Name, Plugin     string
	State, StateText string
	Error            string
	Duration         string
	Samples, Dropped int
	Ran              bool
}

type label struct{ Name, Value string }

// when is a point in time as the page shows it: relative ("in 4s",
// "12s ago") with the absolute UTC time as a tooltip.
type when struct {
	Rel, Abs, ISO string
}

func (w when) Zero() bool { return w.Abs == "" }

// render writes the status page of statuses as seen at now. A job is
// failing when its last push failed or any of its collectors' last run did:
// either way, series are missing at the gateway.
func render(w io.Writer, snap agent.Snapshot, now time.Time, version string) error {
	p := page{Generated: at(now, now), Version: version}
	if r := snap.Reload; !r.Time.IsZero() {
		p.Reload = reloadView{Shown: true, Initial: r.Initial, OK: r.Success, When: at(r.Time, now), LastSuccess: at(r.LastSuccess, now),
			Changes: reloadChanges(r.Result), Problems: r.Problems}
	}
	if snap.Shard != nil {
		p.Shard = fmt.Sprintf("%s: this agent runs %d of the %d configured jobs (the others belong to the other shards; replicated jobs run on every shard)",
			snap.Shard, len(snap.Jobs), snap.Configured)
	}
	for _, o := range snap.Outputs {
		ov := outputView{OutputStatus: o, RemoteWrite: o.Kind == "remote_write" || o.Kind == "otlp", FailingSince: at(o.FailingSince, now)}
		if ov.RemoteWrite {
			ov.Buffer = bytesText(o.BufferBytes)
			if !o.Oldest.IsZero() {
				ov.Buffer += ", oldest sample " + relative(o.Oldest, now)
			} else {
				ov.Buffer += ", all delivered"
			}
		}
		p.Outputs = append(p.Outputs, ov)
	}
	anchors := map[string]int{}
	for _, js := range snap.Jobs {
		jv := jobView{
			JobStatus: js,
			Anchor:    anchor(js.Name, anchors),
			Method:    strings.ToUpper(js.Method),
			NextRun:   at(js.NextRun, now),
			LastRun:   at(js.LastRun, now),
		}
		failingOutputs := 0
		for _, ps := range js.Outputs {
			jv.Outputs = append(jv.Outputs, pushView{PushStatus: ps, FailingSince: at(ps.FailingSince, now), LastSuccessfulPush: at(ps.LastSuccessfulPush, now)})
			if ps.Pushed && !ps.OK {
				failingOutputs++
			}
		}
		if !js.NextRun.IsZero() && !js.NextRun.After(now) {
			// The scheduler has not moved on yet: the run is starting.
			jv.NextRun.Rel = "due now"
		}
		if !js.LastRun.IsZero() {
			jv.LastDuration = duration(js.LastDuration)
		}
		keys := make([]string, 0, len(js.Grouping))
		for k := range js.Grouping {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			jv.Grouping = append(jv.Grouping, label{k, js.Grouping[k]})
		}
		for _, cs := range js.Collectors {
			cv := collectorView{Name: cs.Name, Plugin: cs.Plugin, Ran: cs.Ran, Error: cs.Error,
				Samples: cs.Samples, Dropped: cs.Dropped}
			switch {
			case !cs.Ran:
				cv.State, cv.StateText = "pending", "not run yet"
			case cs.Success:
				cv.State, cv.StateText = "ok", "OK"
				cv.Duration = duration(cs.Duration)
			default:
				cv.State, cv.StateText = "failing", "FAILED"
				cv.Duration = duration(cs.Duration)
				jv.FailedCollectors++
			}
			jv.Collectors = append(jv.Collectors, cv)
		}
		switch {
		case failingOutputs == 1 && len(js.Outputs) == 1:
			jv.Problems = append(jv.Problems, "push failing")
		case failingOutputs > 0:
			jv.Problems = append(jv.Problems, fmt.Sprintf("push failing to %d of %d outputs", failingOutputs, len(js.Outputs)))
		}
		if jv.FailedCollectors > 0 {
			jv.Problems = append(jv.Problems, fmt.Sprintf("%d of %d collectors failed", jv.FailedCollectors, len(jv.Collectors)))
		}
		switch {
		case len(jv.Problems) > 0:
			jv.State, jv.StateText = "failing", "FAILING"
			p.Failing++
		case js.LastRun.IsZero():
			jv.State, jv.StateText = "pending", "not run yet"
		default:
			jv.State, jv.StateText = "ok", "OK"
		}
		p.Jobs = append(p.Jobs, jv)
	}
	return statusPage.Execute(w, p)
}

// reloadChanges says what a reload changed, naming jobs and outputs.
func reloadChanges(res agent.ReloadResult) string {
	var parts []string
	for _, c := range []struct {
		what  string
		names []string
	}{
		{"jobs added", res.Added}, {"jobs changed", res.Changed}, {"jobs removed", res.Removed},
		{"outputs added", res.OutputsAdded}, {"outputs changed", res.OutputsChanged}, {"outputs removed", res.OutputsRemoved},
	} {
		if len(c.names) > 0 {
			parts = append(parts, c.what+": "+strings.Join(c.names, ", "))
		}
	}
	if len(parts) == 0 {
		return "no job or output changed"
	}
	return strings.Join(parts, "; ")
}

// bytesText is a size in binary units: "0 B", "12.3 KiB", "1.5 MiB".
func bytesText(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// anchor makes an id for a job's section: job names are free text, ids
// should not be, and two names may map to the same id.
func anchor(name string, seen map[string]int) string {
	var b strings.Builder
	b.WriteString("job-")
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	id := b.String()
	seen[id]++
	if n := seen[id]; n > 1 {
		id = fmt.Sprintf("%s-%d", id, n)
	}
	return id
}

func at(t, now time.Time) when {
	if t.IsZero() {
		return when{}
	}
	return when{Rel: relative(t, now), Abs: absTime(t), ISO: t.UTC().Format(time.RFC3339)}
}

func absTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// relative says how far t is from now in the words a person uses:
// "in 4s", "12s ago", "3m20s ago", "just now".
func relative(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d >= time.Second:
		return "in " + human(d)
	case d <= -time.Second:
		return human(-d) + " ago"
	case d < 0:
		return "just now"
	}
	return "now"
}

// human is a duration to the second, in at most two units: "45s",
// "3m20s", "2h", "1d4h".
func human(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return units(s/60, "m", s%60, "s")
	case s < 86400:
		return units(s/3600, "h", s%3600/60, "m")
	}
	return units(s/86400, "d", s%86400/3600, "h")
}

func units(big int64, bigUnit string, small int64, smallUnit string) string {
	if small == 0 {
		return fmt.Sprintf("%d%s", big, bigUnit)
	}
	return fmt.Sprintf("%d%s%d%s", big, bigUnit, small, smallUnit)
}

// duration shows a run's length to three or four significant digits:
// "1.23s", "45.6ms", "812µs".
func duration(d time.Duration) string {
	for _, r := range []struct{ min, round time.Duration }{
		{10 * time.Second, 100 * time.Millisecond},
		{time.Second, 10 * time.Millisecond},
		{100 * time.Millisecond, time.Millisecond},
		{10 * time.Millisecond, 100 * time.Microsecond},
		{time.Millisecond, 10 * time.Microsecond},
		{100 * time.Microsecond, time.Microsecond},
		{10 * time.Microsecond, 100 * time.Nanosecond},
	} {
		if d >= r.min {
			return d.Round(r.round).String()
		}
	}
	return d.String()
}
