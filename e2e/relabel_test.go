package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
)

// TestRelabellingPerOutput: one job with collector and job rules goes to a
// Pushgateway and to VictoriaMetrics (remote write), each output with its
// own external_labels and write_relabel_configs. What each receiver holds,
// queried back from it, is what its own rules say, and never what the
// other output's rules did; the dropped series are counted per job and
// per output on the agent's /metrics.
func TestRelabellingPerOutput(t *testing.T) {
	art := build(t)
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	vm := testenv.StartVictoriaMetrics(t)
	dir := t.TempDir()
	textDir := filepath.Join(dir, "textfile")
	if err := os.MkdirAll(textDir, 0o755); err != nil {
		t.Fatal(err)
	}
	prom := `# TYPE app_requests_total counter
app_requests_total{color="red"} 5
app_requests_total{color="blue"} 6
# TYPE app_secret_tokens gauge
app_secret_tokens 3
# TYPE app_debug_info gauge
app_debug_info 1
# TYPE other_metric gauge
other_metric 7
`
	if err := os.WriteFile(filepath.Join(textDir, "app.prom"), []byte(prom), 0o644); err != nil {
		t.Fatal(err)
	}
	// The rule blocks are in Prometheus' own shape; ${1} is the regex's
	// group, not an environment variable.
	cfg := fmt.Sprintf(`
gateway:
  url: %s
  external_labels: {site: gw-site}
  write_relabel_configs:
    - source_labels: [__name__]
      regex: 'app_secret_.*'
      action: drop
outputs:
  tsdb:
    remote_write:
      url: %s
      buffer: {dir: buffer}
      external_labels: {cluster: eu-1, site: vm-site}
      write_relabel_configs:
        - source_labels: [job, __name__]
          regex: 'relabel-e2e;app_(.*)'
          target_label: __name__
          replacement: 'renamed_${1}'
        - source_labels: [__name__]
          regex: 'renamed_.*'
          action: keep
        - source_labels: [instance]
          target_label: host
jobs:
  - name: relabel-e2e
    every: 1s
    grouping: {instance: e2e}
    relabel_configs:
      - source_labels: [__name__]
        regex: 'app_debug_.*'
        action: drop
    collectors:
      - name: files
        plugin: %s
        mounts: {/textfile: textfile}
        config: {directory: /textfile}
        relabel_configs:
          - source_labels: [color]
            target_label: colour
          - regex: color
            action: labeldrop
`, gw.URL, vm.WriteURL, art.textfile)
	path := filepath.Join(dir, "schedules.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := testenv.FreeAddr(t)
	a := startAgent(t, art.agent, nil, "run", "--config", path, "--cache-dir", "", "--listen", listen)

	// The Pushgateway: its own rules (app_secret_* dropped) and external
	// label, the job's and collector's rules; the remote-write output's
	// rename never reaches it.
	var gwMetrics string
	testenv.Eventually(t, 60*time.Second, "the job's series at the gateway", func() bool {
		gwMetrics = gw.Metrics(t)
		return strings.Contains(gwMetrics, "other_metric{")
	})
	for _, want := range []string{
		`app_requests_total{colour="red",instance="e2e",job="relabel-e2e",site="gw-site"} 5`,
		`app_requests_total{colour="blue",instance="e2e",job="relabel-e2e",site="gw-site"} 6`,
		`other_metric{instance="e2e",job="relabel-e2e",site="gw-site"} 7`,
	} {
		if !strings.Contains(gwMetrics, want) {
			t.Errorf("the gateway lacks %s\n%s", want, gatewayLines(gwMetrics, "relabel-e2e"))
		}
	}
	for _, gone := range []string{"app_secret_tokens{", "app_debug_info{", "renamed_", "color=", "cluster="} {
		if strings.Contains(gwMetrics, gone) {
			t.Errorf("the gateway holds %s, which its rules or the job's drop\n%s", gone, gatewayLines(gwMetrics, "relabel-e2e"))
		}
	}

	// VictoriaMetrics: renamed and kept by its own rules, with its own
	// external labels; app_secret_tokens, which the gateway's rules drop,
	// arrives here.
	testenv.Eventually(t, 60*time.Second, "the renamed series at VictoriaMetrics", func() bool {
		return len(vm.Query(t, `renamed_secret_tokens`)) == 1
	})
	for q, want := range map[string]string{
		`renamed_requests_total{colour="red"}`: `{__name__="renamed_requests_total", cluster="eu-1", colour="red", host="e2e", instance="e2e", job="relabel-e2e", site="vm-site"} => 5`,
		`renamed_secret_tokens`:                `{__name__="renamed_secret_tokens", cluster="eu-1", host="e2e", instance="e2e", job="relabel-e2e", site="vm-site"} => 3`,
	} {
		got := vm.Query(t, q)
		if len(got) != 1 || got[0].String() != want {
			t.Errorf("VictoriaMetrics %s = %v, want %s", q, got, want)
		}
	}
	for _, q := range []string{`{__name__=~"app_.*|other_metric|renamed_debug_info"}`, `{__name__=~"pushagent_.*", job="relabel-e2e"}`, `{color!=""}`} {
		if got := vm.Query(t, q); len(got) != 0 {
			t.Errorf("VictoriaMetrics holds %v for %s; its rules keep only renamed_*", got, q)
		}
	}

	// The counts: per run, the job's rule drops app_debug_info; the
	// gateway's rules drop app_secret_tokens; tsdb's keep drops
	// other_metric and the collector's status series.
	metrics := scrapeAgent(t, listen)
	for _, c := range []struct {
		series string
		min    float64
	}{
		{`pushagent_job_relabel_dropped_series_total{job="relabel-e2e"}`, 1},
		{`pushagent_output_relabel_dropped_series_total{job="relabel-e2e",output="gateway"}`, 1},
		{`pushagent_output_relabel_dropped_series_total{job="relabel-e2e",output="tsdb"}`, 4},
	} {
		v, ok := seriesValue(metrics, c.series)
		if !ok || v < c.min {
			t.Errorf("%s = %v (present %v), want at least %v", c.series, v, ok, c.min)
		}
	}
	runs, _ := seriesValue(metrics, `pushagent_pushes_total{job="relabel-e2e",output="gateway"}`)
	gwDropped, _ := seriesValue(metrics, `pushagent_output_relabel_dropped_series_total{job="relabel-e2e",output="gateway"}`)
	if gwDropped > runs {
		t.Errorf("the gateway's rules dropped %v series in %v runs; they drop one series a run", gwDropped, runs)
	}

	// once prints what each output would receive, after its own rules.
	a.stop(t)
	out, err := exec.Command(art.agent, "once", "--config", path, "--cache-dir", "").CombinedOutput()
	if err != nil {
		t.Fatalf("once: %v\n%s", err, out)
	}
	o := string(out)
	gwAt, tsdbAt := strings.Index(o, `# output "gateway" (pushgateway `), strings.Index(o, `# output "tsdb" (remote_write `)
	if gwAt < 0 || tsdbAt < gwAt {
		t.Fatalf("once does not print a section per output, gateway then tsdb:\n%s", o)
	}
	gwPart, tsdbPart := o[gwAt:tsdbAt], o[tsdbAt:]
	for _, want := range []string{`: 1 series dropped by its rules`, `app_requests_total{colour="red",site="gw-site"} 5`, `other_metric{site="gw-site"} 7`} {
		if !strings.Contains(gwPart, want) {
			t.Errorf("once's gateway section lacks %s:\n%s", want, gwPart)
		}
	}
	for _, want := range []string{`# TYPE renamed_requests_total counter`, `renamed_requests_total{cluster="eu-1",colour="red",host="e2e",site="vm-site"} 5`, `renamed_secret_tokens{cluster="eu-1",host="e2e",site="vm-site"} 3`} {
		if !strings.Contains(tsdbPart, want) {
			t.Errorf("once's tsdb section lacks %s:\n%s", want, tsdbPart)
		}
	}
	if strings.Contains(gwPart, "app_secret_tokens") || strings.Contains(tsdbPart, "other_metric") {
		t.Errorf("once prints series an output's rules drop:\n%s", o)
	}
}

// gatewayLines are the lines of a gateway's /metrics for a job, for
// messages.
func gatewayLines(metrics, job string) string {
	var out []string
	for _, l := range strings.Split(metrics, "\n") {
		if strings.Contains(l, `job="`+job+`"`) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func scrapeAgent(t *testing.T, listen string) string {
	t.Helper()
	resp, err := localHTTP.Get("http://" + listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// seriesValue finds one series, written as /metrics writes it, and its
// value.
func seriesValue(metrics, series string) (float64, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		return 0, false
	}
	var v float64
	_, err := fmt.Sscan(m[1], &v)
	return v, err == nil
}
