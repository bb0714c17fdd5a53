// Command scrape is a pushagent plugin that fetches a Prometheus /metrics
// endpoint and forwards its series: how a sidecar agent pushes the metrics
// of a worker that only exposes /metrics and lives too briefly, or too far
// behind a NAT, to be scraped.
//
// It reaches only what the collector's allow_hosts grants, through the
// agent's HTTP host call; it forwards the target's series and adds nothing
// of its own (the agent reports the run's success and duration). It relays
// the text through the SDK's parser and never decodes it into another
// representation; the one sizeable package it links besides the SDK is
// regexp, which keep and drop need.
package main

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/pushagent/pushagent/sdk"
	"github.com/pushagent/pushagent/sdk/httpcall"
)

type config struct {
	// URL is the endpoint to fetch, e.g. http://127.0.0.1:8080/metrics.
	URL string `json:"url"`
	// Headers are sent with the request, e.g. Authorization.
	Headers map[string]string `json:"headers"`
	// Keep, if not empty, forwards only metrics whose name matches one of
	// these regular expressions (RE2, anchored at both ends).
	Keep []string `json:"keep"`
	// Drop leaves out metrics whose name matches one of these; it is
	// applied after Keep.
	Drop []string `json:"drop"`
	// Labels are set on every forwarded series, replacing a label of the
	// same name.
	Labels map[string]string `json:"labels"`
}

// accept asks for text format 0.0.4, the one format the plugin parses, so a
// server that would offer protobuf or OpenMetrics answers in text instead.
const accept = "text/plain;version=0.0.4;q=1,*/*;q=0.1"

// maxErrorBody bounds how much of a non-2xx body goes into the error.
const maxErrorBody = 200

func init() { sdk.Register(collect) }

func main() { sdk.Main() }

func collect(c *sdk.Collection) error {
	var cfg config
	if err := c.DecodeConfig(&cfg); err != nil {
		return err
	}
	rl, err := cachedRelabeler(c.Config(), cfg)
	if err != nil {
		return err
	}
	body, err := fetch(cfg)
	if err != nil {
		return err
	}
	families, err := sdk.ParseText(body)
	if err != nil {
		return fmt.Errorf("GET %s: parsing the response as text format 0.0.4: %w", cfg.URL, err)
	}
	var forwarded, dropped int
	var scratch []sdk.Label // the relabeled labels; AddFamily copies what it keeps
	for _, f := range families {
		if !rl.forward(f.Name) {
			dropped++
			continue
		}
		if n := f.DropTimestamps(); n > 0 {
			c.Logger().Warn("dropped sample timestamps; the Pushgateway rejects timestamped samples", "metric", f.Name, "samples", n)
		}
		scratch = rl.relabel(f, scratch)
		if err := c.AddFamily(f); err != nil {
			// The family broke a rule the push would enforce too (say a
			// histogram whose buckets are not cumulative): leave it out,
			// as the agent's merge would, and keep the rest.
			c.Logger().Warn("skipping metric", "metric", f.Name, "err", err)
			dropped++
			continue
		}
		forwarded++
	}
	c.Logger().Debug("scraped", "url", cfg.URL, "bytes", len(body), "metrics", forwarded, "dropped", dropped)
	return nil
}

// fetch GETs the endpoint. Anything but a 2xx fails the run: a 503 from a
// worker that is shutting down must not be pushed as an empty success.
func fetch(cfg config) ([]byte, error) {
	header := make(httpcall.Header, 1+len(cfg.Headers))
	header.Set("Accept", accept)
	for k, v := range cfg.Headers {
		header.Set(k, v) // an Accept of the config, in any case, replaces ours
	}
	resp, err := httpcall.Do(httpcall.Request{URL: cfg.URL, Header: header})
	if err != nil {
		return nil, fmt.Errorf("scraping: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("GET %s: status %s: %s", cfg.URL, resp.Status, snippet(resp.Body))
	}
	return resp.Body, nil
}

func snippet(body []byte) string {
	s := strings.ToValidUTF8(strings.TrimSpace(string(body)), "?")
	if len(s) > maxErrorBody {
		s = strings.ToValidUTF8(s[:maxErrorBody], "") + "…"
	}
	return fmt.Sprintf("%q", s)
}

// relabeler is the compiled keep/drop/labels part of the config.
type relabeler struct {
	keep, drop []*regexp.Regexp
	labels     []sdk.Label // sorted by name
}

// lastRelabeler is the relabeler of the last config that had no errors. A
// reactor instance runs the same collector again and again, and compiling
// the regexes would otherwise cost each run about as much as relaying the
// text. It is keyed by the config's whole text, so it never hands one
// config's rules to another; it only spares the work.
var lastRelabeler struct {
	sync.Mutex
	config string
	rl     *relabeler
}

// cachedRelabeler returns cfg.relabeler(), compiled again only if the
// config's text (raw) changed since the last run.
func cachedRelabeler(raw []byte, cfg config) (*relabeler, error) {
	lastRelabeler.Lock()
	defer lastRelabeler.Unlock()
	if lastRelabeler.rl != nil && lastRelabeler.config == string(raw) {
		return lastRelabeler.rl, nil
	}
	rl, err := cfg.relabeler()
	if err != nil {
		return nil, err
	}
	lastRelabeler.config, lastRelabeler.rl = string(raw), rl
	return rl, nil
}

// relabeler checks the config and compiles it, reporting every problem at
// once with the field it belongs to.
func (cfg config) relabeler() (*relabeler, error) {
	var errs []error
	if cfg.URL == "" {
		errs = append(errs, errors.New(`config: "url" is required`))
	}
	compile := func(field string, exprs []string) []*regexp.Regexp {
		var res []*regexp.Regexp
		for i, expr := range exprs {
			re, err := regexp.Compile("^(?:" + expr + ")$")
			if err != nil {
				errs = append(errs, fmt.Errorf("config: %s[%d]: %w", field, i, err))
				continue
			}
			res = append(res, re)
		}
		return res
	}
	rl := &relabeler{keep: compile("keep", cfg.Keep), drop: compile("drop", cfg.Drop)}
	for name, value := range cfg.Labels {
		rl.labels = append(rl.labels, sdk.Label{Name: name, Value: value})
	}
	sort.Slice(rl.labels, func(i, j int) bool { return rl.labels[i].Name < rl.labels[j].Name })
	for _, l := range rl.labels {
		switch {
		case !validLabelName(l.Name):
			errs = append(errs, fmt.Errorf("config: labels: %q is not a valid label name", l.Name))
		case strings.HasPrefix(l.Name, "__"), l.Name == "le", l.Name == "quantile":
			// le and quantile carry histogram buckets and summary
			// quantiles; overwriting them would corrupt those series.
			errs = append(errs, fmt.Errorf("config: labels: %q is reserved", l.Name))
		}
	}
	return rl, errors.Join(errs...)
}

// validLabelName reports whether name matches [a-zA-Z_][a-zA-Z0-9_]*, the
// classic label names that text format 0.0.4 carries.
func validLabelName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '_' || i > 0 && b >= '0' && b <= '9') {
			return false
		}
	}
	return true
}

func (rl *relabeler) forward(name string) bool {
	if len(rl.keep) > 0 && !matchesAny(rl.keep, name) {
		return false
	}
	return !matchesAny(rl.drop, name)
}

func matchesAny(res []*regexp.Regexp, name string) bool {
	for _, re := range res {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

// relabel sets the configured labels on every sample of f, replacing
// labels of the same name. The new label lists are cut from scratch, whose
// content it overwrites and which it returns, grown if need be, so that
// relabeling costs an allocation only when a family is larger than all
// before it.
func (rl *relabeler) relabel(f *sdk.Family, scratch []sdk.Label) []sdk.Label {
	if len(rl.labels) == 0 {
		return scratch
	}
	n := 0
	for i := range f.Samples {
		n += len(f.Samples[i].Labels) + len(rl.labels)
	}
	scratch = scratch[:0]
	if cap(scratch) < n {
		scratch = make([]sdk.Label, 0, n)
	}
	for i := range f.Samples {
		s := &f.Samples[i]
		start := len(scratch)
		for _, l := range s.Labels {
			if !rl.sets(l.Name) {
				scratch = append(scratch, l)
			}
		}
		scratch = append(scratch, rl.labels...)
		s.Labels = scratch[start:len(scratch):len(scratch)]
	}
	return scratch
}

// sets reports whether the config sets the label called name.
func (rl *relabeler) sets(name string) bool {
	for _, l := range rl.labels {
		if l.Name == name {
			return true
		}
	}
	return false
}
