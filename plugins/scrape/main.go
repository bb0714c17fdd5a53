// Command scrape is a pushagent plugin that fetches a Prometheus /metrics
// endpoint and forwards its series: how a sidecar agent pushes the metrics
// of a worker that only exposes /metrics and lives too briefly, or too far
// behind a NAT, to be scraped.
//
// It reaches only what the collector's allow_hosts grants, through the
// agent's HTTP host call; it forwards the target's series and adds nothing
// of its own (the agent reports the run's success and duration).
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pushagent/pushagent/sdk"
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
	rl, err := cfg.relabeler()
	if err != nil {
		return err
	}
	body, err := fetch(c.HTTPClient(), cfg)
	if err != nil {
		return err
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("GET %s: parsing the response as text format 0.0.4: %w", cfg.URL, err)
	}
	var forwarded, dropped int
	for _, name := range slices.Sorted(maps.Keys(families)) {
		mf := families[name]
		if !rl.forward(name) {
			dropped++
			continue
		}
		if n := rl.relabel(mf); n > 0 {
			c.Logger().Warn("dropped sample timestamps; the Pushgateway rejects timestamped samples", "metric", name, "samples", n)
		}
		if err := c.AddFamilies(mf); err != nil {
			// The family broke a rule the push would enforce too (say a
			// histogram whose buckets are not cumulative): leave it out,
			// as the agent's merge would, and keep the rest.
			c.Logger().Warn("skipping metric", "metric", name, "err", err)
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
func fetch(client *http.Client, cfg config) ([]byte, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, cfg.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	req.Header.Set("Accept", accept)
	for k, v := range cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading the response: %w", cfg.URL, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("GET %s: status %s: %s", cfg.URL, resp.Status, snippet(body))
	}
	return body, nil
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
	labels     map[string]string
	names      []string // sorted keys of labels
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
	rl := &relabeler{keep: compile("keep", cfg.Keep), drop: compile("drop", cfg.Drop), labels: cfg.Labels}
	for _, name := range slices.Sorted(maps.Keys(cfg.Labels)) {
		switch {
		case !model.LegacyValidation.IsValidLabelName(name):
			errs = append(errs, fmt.Errorf("config: labels: %q is not a valid label name", name))
		case strings.HasPrefix(name, "__"), name == "le", name == "quantile":
			// le and quantile carry histogram buckets and summary
			// quantiles; overwriting them would corrupt those series.
			errs = append(errs, fmt.Errorf("config: labels: %q is reserved", name))
		}
		rl.names = append(rl.names, name)
	}
	return rl, errors.Join(errs...)
}

func (rl *relabeler) forward(name string) bool {
	matches := func(res []*regexp.Regexp) bool {
		return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(name) })
	}
	if len(rl.keep) > 0 && !matches(rl.keep) {
		return false
	}
	return !matches(rl.drop)
}

// relabel sets the configured labels on every series of mf and drops sample
// timestamps, returning how many it dropped.
func (rl *relabeler) relabel(mf *dto.MetricFamily) (stamped int) {
	for _, m := range mf.Metric {
		if m.TimestampMs != nil {
			m.TimestampMs = nil
			stamped++
		}
		if len(rl.names) == 0 {
			continue
		}
		m.Label = slices.DeleteFunc(m.Label, func(lp *dto.LabelPair) bool {
			_, ok := rl.labels[lp.GetName()]
			return ok
		})
		for _, name := range rl.names {
			m.Label = append(m.Label, &dto.LabelPair{Name: &name, Value: new(rl.labels[name])})
		}
	}
	return stamped
}
