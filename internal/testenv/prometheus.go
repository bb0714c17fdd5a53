package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PrometheusOptions configures StartPrometheus.
type PrometheusOptions struct {
	// Targets are the host:port addresses scraped by the job
	// "pushgateway", with honor_labels: true so that the job and instance
	// labels pushed to the gateway survive the scrape, as in production.
	Targets []string
	// Username and Password, when either is set, are sent to every target
	// as HTTP basic auth.
	Username, Password string
	// ScrapeInterval is the global scrape and evaluation interval.
	// Default 1s, so tests wait seconds, not minutes, for a sample.
	ScrapeInterval time.Duration
	// ConfigFile, if set, is used as Prometheus's configuration as is, and
	// Targets, Username, Password and ScrapeInterval are ignored. Paths in
	// it are relative to its own directory.
	ConfigFile string
	// Args are extra command-line flags.
	Args []string
	// Binary is the prometheus to run; default the one on PATH.
	Binary string
}

// Prometheus is a running Prometheus server, stopped when the test that
// started it ends. Its TSDB lives in a temporary directory.
type Prometheus struct {
	// URL is the base URL, "http://127.0.0.1:PORT", without a trailing slash.
	URL string
	// ConfigFile is the configuration it was started with.
	ConfigFile string
	// LogFile holds its stdout and stderr.
	LogFile string
}

// StartPrometheus starts Prometheus on a free 127.0.0.1 port and waits
// until /-/ready answers 200.
func StartPrometheus(t testing.TB, opts PrometheusOptions) *Prometheus {
	t.Helper()
	bin := opts.Binary
	if bin == "" {
		bin = RequireBinary(t, "prometheus")
	}
	dir := t.TempDir()
	config := opts.ConfigFile
	if config == "" {
		config = filepath.Join(dir, "prometheus.yml")
		if err := os.WriteFile(config, prometheusConfig(opts), 0o600); err != nil {
			t.Fatalf("testenv: prometheus: write config: %v", err)
		}
	} else if abs, err := filepath.Abs(config); err == nil {
		config = abs // the process runs in another directory
	}
	tsdb := filepath.Join(dir, "tsdb")
	s := startServer(t, "prometheus", bin,
		func(addr string) []string {
			return append([]string{
				"--config.file=" + config,
				"--storage.tsdb.path=" + tsdb,
				"--web.listen-address=" + addr,
			}, opts.Args...)
		},
		func(addr string) error {
			return checkReady("http://"+addr+"/-/ready", "", "")
		})
	return &Prometheus{URL: "http://" + s.addr, ConfigFile: config, LogFile: s.logPath}
}

func prometheusConfig(opts PrometheusOptions) []byte {
	interval := opts.ScrapeInterval
	if interval <= 0 {
		interval = time.Second
	}
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n",
		promDuration(interval), promDuration(interval), promDuration(interval))
	b.WriteString("scrape_configs:\n  - job_name: pushgateway\n    honor_labels: true\n")
	if opts.Username != "" || opts.Password != "" {
		fmt.Fprintf(&b, "    basic_auth:\n      username: %s\n      password: %s\n",
			yamlString(opts.Username), yamlString(opts.Password))
	}
	b.WriteString("    static_configs:\n      - targets: [")
	for i, target := range opts.Targets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(yamlString(target))
	}
	b.WriteString("]\n")
	return []byte(b.String())
}

// promDuration formats d the way Prometheus parses durations: it accepts
// "1s" or "500ms" but not Go's "1.5s".
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// Sample is one element of an instant query result.
type Sample struct {
	// Labels include __name__ when the expression keeps it.
	Labels map[string]string
	Value  float64
}

// String formats s like Prometheus does: {a="b", c="d"} => 1.
func (s Sample) String() string {
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(s.Labels[k])
	}
	return "{" + strings.Join(parts, ", ") + "} => " + strconv.FormatFloat(s.Value, 'g', -1, 64)
}

// Query runs an instant query at the current time and fails the test if
// Prometheus rejects it. A scalar result is returned as one sample without
// labels.
func (p *Prometheus) Query(t testing.TB, promql string) []Sample {
	t.Helper()
	samples, err := p.query(promql)
	if err != nil {
		t.Fatalf("testenv: prometheus: %v", err)
	}
	return samples
}

// WaitFor runs promql every 250ms until cond accepts the result, and
// returns that result. A nil cond accepts any non-empty result. On timeout
// the test fails with the last result or error, so the message shows how
// close it came.
func (p *Prometheus) WaitFor(t testing.TB, promql string, timeout time.Duration, cond func([]Sample) bool) []Sample {
	t.Helper()
	if cond == nil {
		cond = func(s []Sample) bool { return len(s) > 0 }
	}
	deadline := time.Now().Add(timeout)
	for {
		samples, err := p.query(promql)
		if err == nil && cond(samples) {
			return samples
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("testenv: prometheus: %s: condition not met after %v; last error: %v", promql, timeout, err)
			}
			t.Fatalf("testenv: prometheus: %s: condition not met after %v; last result:\n%s", promql, timeout, formatSamples(samples))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func formatSamples(samples []Sample) string {
	if len(samples) == 0 {
		return "  (empty)"
	}
	lines := make([]string, len(samples))
	for i, s := range samples {
		lines[i] = "  " + s.String()
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func (p *Prometheus) query(promql string) ([]Sample, error) {
	u := p.URL + "/api/v1/query?" + url.Values{"query": {promql}}.Encode()
	status, body, err := get(u, "", "")
	if err != nil {
		return nil, err
	}
	var resp struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("query %s: status %d: decode: %v\n%s", promql, status, err, body)
	}
	if status != http.StatusOK || resp.Status != "success" {
		return nil, fmt.Errorf("query %s: status %d: %s: %s", promql, status, resp.ErrorType, resp.Error)
	}
	switch resp.Data.ResultType {
	case "vector":
		var vector []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(resp.Data.Result, &vector); err != nil {
			return nil, fmt.Errorf("query %s: decode vector: %v", promql, err)
		}
		samples := make([]Sample, 0, len(vector))
		for _, v := range vector {
			value, err := parseValue(v.Value)
			if err != nil {
				return nil, fmt.Errorf("query %s: %v", promql, err)
			}
			samples = append(samples, Sample{Labels: v.Metric, Value: value})
		}
		return samples, nil
	case "scalar":
		var scalar [2]any
		if err := json.Unmarshal(resp.Data.Result, &scalar); err != nil {
			return nil, fmt.Errorf("query %s: decode scalar: %v", promql, err)
		}
		value, err := parseValue(scalar)
		if err != nil {
			return nil, fmt.Errorf("query %s: %v", promql, err)
		}
		return []Sample{{Labels: map[string]string{}, Value: value}}, nil
	default:
		return nil, fmt.Errorf("query %s: result type %q is not supported; use an instant vector or scalar expression", promql, resp.Data.ResultType)
	}
}

// parseValue reads the [timestamp, "value"] pair of the query API; the
// value is a string so that NaN and ±Inf survive JSON.
func parseValue(pair [2]any) (float64, error) {
	s, ok := pair[1].(string)
	if !ok {
		return 0, fmt.Errorf("sample value %v is not a string", pair[1])
	}
	return strconv.ParseFloat(s, 64)
}
