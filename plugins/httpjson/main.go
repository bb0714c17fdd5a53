// Command httpjson is a pushagent plugin that fetches a JSON document over
// HTTP and turns the values its config points at into metrics: the status
// endpoint of a service that has no /metrics, a queue's admin API, a
// health check that answers in JSON.
//
// It reaches only what the collector's allow_hosts grants, through the
// agent's HTTP host call, and only ever sends the one configured request.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/pushagent/pushagent/sdk"
	"github.com/pushagent/pushagent/sdk/httpcall"
)

type config struct {
	// URL is the document to fetch.
	URL string `json:"url"`
	// Headers are sent with the request, e.g. Authorization.
	Headers map[string]string `json:"headers"`
	// Metrics says which values become which metrics.
	Metrics []metricConfig `json:"metrics"`
}

type metricConfig struct {
	Name string `json:"name"`
	Help string `json:"help"`
	// Type is gauge (default), counter or untyped.
	Type string `json:"type"`
	// Path selects the value(s), see path.go.
	Path string `json:"path"`
	// Labels maps label names to paths: $… from the document's root,
	// @… from the element a [*] in Path is at.
	Labels map[string]string `json:"labels"`
	// ValueMap, if set, maps each value's text to the sample value, e.g.
	// {"up": 1, "degraded": 0.5, "down": 0}; a value not in it is an error.
	ValueMap map[string]float64 `json:"value_map"`
}

// metric is one checked metricConfig.
type metric struct {
	metricConfig
	path   path
	labels []label // sorted by name
}

type label struct {
	name string
	path path
}

func init() { sdk.Register(collect) }

func main() { sdk.Main() }

func collect(c *sdk.Collection) error {
	var cfg config
	if err := c.DecodeConfig(&cfg); err != nil {
		return err
	}
	metrics, err := cfg.check()
	if err != nil {
		return err
	}
	doc, err := fetch(cfg)
	if err != nil {
		return err
	}
	// A metric the document does not match is skipped and logged, so that
	// one renamed field does not take every other metric down with it;
	// only when nothing matched at all does the run fail.
	var (
		produced int
		errs     []error
		seen     = map[string]bool{} // name + labels of every series so far
	)
	for i, m := range metrics {
		series, err := m.evaluate(doc, seen)
		if err != nil {
			err = fmt.Errorf("metrics[%d] %s: %w", i, m.Name, err)
			c.Logger().Warn("skipping metric", "metric", m.Name, "path", m.Path, "err", err)
			errs = append(errs, err)
			continue
		}
		produced++
		for _, s := range series {
			switch m.Type {
			case "counter":
				c.Counter(m.Name, m.Help).Set(s.value, s.labels...)
			case "untyped":
				c.Untyped(m.Name, m.Help).Set(s.value, s.labels...)
			default:
				c.Gauge(m.Name, m.Help).Set(s.value, s.labels...)
			}
		}
	}
	if produced == 0 {
		return fmt.Errorf("no metric could be read from %s: %w", cfg.URL, errors.Join(errs...))
	}
	return nil
}

// check validates the config and compiles its paths, reporting every
// problem at once, each with the field it belongs to.
func (cfg config) check() ([]metric, error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf("config: "+format, args...)) }
	if cfg.URL == "" {
		fail(`"url" is required`)
	}
	if len(cfg.Metrics) == 0 {
		fail(`"metrics" must list at least one metric`)
	}
	var metrics []metric
	first := map[string]int{} // metric name -> index of its first entry
	for i, mc := range cfg.Metrics {
		m := metric{metricConfig: mc}
		if m.Type == "" {
			m.Type = "gauge"
		}
		if !sdk.ValidMetricName(m.Name) {
			fail("metrics[%d].name: %q is not a valid metric name", i, m.Name)
		}
		switch m.Type {
		case "gauge", "counter", "untyped":
		default:
			fail("metrics[%d].type: %q is not gauge, counter or untyped", i, m.Type)
		}
		if j, ok := first[m.Name]; ok {
			// One name may come from several entries (say one per
			// field), but it is one family: same type, same help.
			if prev := metrics[j]; prev.Type != m.Type || prev.Help != m.Help {
				fail("metrics[%d]: %s has another type or help than metrics[%d]", i, m.Name, j)
			}
		} else {
			first[m.Name] = len(metrics)
		}
		p, err := parsePath(m.Path)
		switch {
		case err != nil:
			fail("metrics[%d].path: %v", i, err)
		case p.relative:
			fail("metrics[%d].path: %q must start with $", i, m.Path)
		}
		m.path = p
		for _, name := range slices.Sorted(maps.Keys(m.Labels)) {
			if !sdk.ValidLabelName(name) || strings.HasPrefix(name, "__") {
				fail("metrics[%d].labels: %q is not a valid label name", i, name)
			}
			lp, err := parsePath(m.Labels[name])
			switch {
			case err != nil:
				fail("metrics[%d].labels.%s: %v", i, name, err)
			case lp.hasWildcard():
				fail("metrics[%d].labels.%s: %q has [*], but a label has one value per series", i, name, m.Labels[name])
			}
			m.labels = append(m.labels, label{name: name, path: lp})
		}
		metrics = append(metrics, m)
	}
	return metrics, errors.Join(errs...)
}

// fetch GETs the document. Anything but a 2xx with a JSON body fails the
// run: there is nothing to read metrics from.
func fetch(cfg config) (any, error) {
	header := httpcall.Header{"Accept": {"application/json"}}
	for k, v := range cfg.Headers {
		header.Set(k, v)
	}
	resp, err := httpcall.Do(httpcall.Request{Method: "GET", URL: cfg.URL, Header: header})
	if err != nil {
		return nil, fmt.Errorf("fetching: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("GET %s: status %s", cfg.URL, resp.Status)
	}
	doc, err := decodeJSON(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", cfg.URL, err)
	}
	return doc, nil
}

// decodeJSON decodes one JSON document, keeping numbers as written so that
// a label shows 10 rather than 1e+01 and large integers keep their digits.
func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("the response is not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("the response is not JSON: data after the document")
	}
	return doc, nil
}

// series is one sample of a metric: value and label pairs.
type series struct {
	value  float64
	labels []string
}

// evaluate reads m's series from doc. Any series that cannot be read fails
// the whole metric, so a metric is either complete or absent, never a
// partial list that looks complete. seen holds the series of earlier
// metrics; a series already there is an error too.
func (m metric) evaluate(doc any, seen map[string]bool) ([]series, error) {
	matches, err := m.path.eval(doc, doc)
	if err != nil {
		return nil, err
	}
	var out []series
	keys := map[string]bool{}
	for _, mt := range matches {
		s := series{}
		if s.value, err = m.value(mt.value); err != nil {
			return nil, fmt.Errorf("%s: %w", mt.at, err)
		}
		key := m.Name
		for _, l := range m.labels {
			lm, err := l.path.eval(doc, mt.elem)
			if err != nil {
				return nil, fmt.Errorf("label %s: %w", l.name, err)
			}
			text, err := scalarText(lm[0].value)
			if err != nil {
				return nil, fmt.Errorf("label %s: %s: %w", l.name, lm[0].at, err)
			}
			s.labels = append(s.labels, l.name, text)
			key += "\xff" + l.name + "\xfe" + text
		}
		if seen[key] || keys[key] {
			return nil, fmt.Errorf("%s: series {%s} appears twice; add a label that tells them apart", mt.at, labelString(s.labels))
		}
		keys[key] = true
		out = append(out, s)
	}
	for k := range keys {
		seen[k] = true
	}
	return out, nil
}

func (m metric) value(v any) (float64, error) {
	if m.ValueMap == nil {
		return number(v)
	}
	text, err := scalarText(v)
	if err != nil {
		return 0, err
	}
	f, ok := m.ValueMap[text]
	if !ok {
		return 0, fmt.Errorf("value %q is not in value_map", text)
	}
	return f, nil
}

func labelString(pairs []string) string {
	parts := make([]string, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		parts = append(parts, pairs[i]+"="+strconv.Quote(pairs[i+1]))
	}
	return strings.Join(parts, ",")
}
