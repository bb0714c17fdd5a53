package testenv

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The receivers that speak OTLP and remote write 2.0 are newer than
// Debian's: scripts/receivers.sh builds them from their Go modules into
// the user's cache directory, keyed by version; `make setup` runs it.
// The script owns the versions; this file reads them from it.

var (
	receiversMu sync.Mutex
	receivers   = map[string]string{} // name → path, once found or built
)

// receiverVersion reads NAME_VERSION from scripts/receivers.sh.
func receiverVersion(t testing.TB, variable string) string {
	t.Helper()
	script := filepath.Join(findModuleRoot(t), "scripts", "receivers.sh")
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	m := regexp.MustCompile(`(?m)^readonly ` + variable + `=(\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("testenv: %s sets no %s", script, variable)
	}
	return string(m[1])
}

// receiverPath is where scripts/receivers.sh puts a receiver: the
// directory os.UserCacheDir names ($XDG_CACHE_HOME or ~/.cache here),
// pushagent/receivers/<name>-<version>/<name>.
func receiverPath(t testing.TB, name, version string) string {
	t.Helper()
	dir, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return filepath.Join(dir, "pushagent", "receivers", name+"-"+version, name)
}

// RequireReceiver returns the path of a receiver scripts/receivers.sh
// builds ("victoria-metrics" or "prometheus", the variable naming its
// version in the script: VM_VERSION or PROM_VERSION). When it is not in
// the cache yet, it runs the script. That takes many minutes on a small
// machine; `make setup` does it before the tests. The script holds a
// lock, so test binaries that start it at once build once.
//
// When the build fails the test is skipped, unless CI=true: then it
// fails, as RequireBinary does.
func RequireReceiver(t testing.TB, name, versionVariable string) string {
	t.Helper()
	receiversMu.Lock()
	defer receiversMu.Unlock()
	if p, ok := receivers[name]; ok {
		return p
	}
	path := receiverPath(t, name, receiverVersion(t, versionVariable))
	if _, err := lookBinary(path); err != nil {
		if out, err := buildReceivers(t); err != nil {
			msg := fmt.Sprintf("testenv: %s is not built and scripts/receivers.sh failed (%v); run `make setup` or scripts/receivers.sh and read its error:\n%s", path, err, out)
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s\n(CI=true, so this is a failure, not a skip)", msg)
			}
			t.Skip(msg)
		}
		if _, err := lookBinary(path); err != nil {
			t.Fatalf("testenv: scripts/receivers.sh ran but %s is missing: %v", path, err)
		}
	}
	receivers[name] = path
	return path
}

// buildReceivers runs scripts/receivers.sh, which builds one at a time
// per machine (it holds a lock), so test binaries that call it at once
// wait for the one build.
func buildReceivers(t testing.TB) ([]byte, error) {
	t.Helper()
	t.Logf("testenv: building the OTLP and remote write 2.0 receivers (scripts/receivers.sh), once per machine; this takes minutes")
	start := time.Now()
	out, err := exec.Command("bash", filepath.Join(findModuleRoot(t), "scripts", "receivers.sh")).CombinedOutput()
	t.Logf("testenv: scripts/receivers.sh took %v", time.Since(start).Round(time.Second))
	return out, err
}

// StartVictoriaMetricsOTLP starts VictoriaMetrics built by
// scripts/receivers.sh (it receives OTLP at OTLPURL), as
// StartVictoriaMetrics does Debian's. Metric and label names are
// translated to Prometheus' conventions (-opentelemetry.usePrometheusNaming:
// a counter gets its _total back, service.name becomes service_name), as a
// user who queries both kinds of data side by side would set it.
func StartVictoriaMetricsOTLP(t testing.TB) *VictoriaMetrics {
	t.Helper()
	v := &VictoriaMetrics{t: t, bin: RequireReceiver(t, "victoria-metrics", "VM_VERSION"), data: filepath.Join(t.TempDir(), "data"),
		args: []string{"-opentelemetry.usePrometheusNaming"}}
	v.start("")
	v.URL = "http://" + v.srv.addr
	v.WriteURL = v.URL + "/api/v1/write"
	v.OTLPURL = v.URL + "/opentelemetry/v1/metrics"
	return v
}

// Prometheus3 is a running Prometheus 3 built by scripts/receivers.sh,
// receiving OTLP and remote write 1.0 and 2.0.
type Prometheus3 struct {
	*Prometheus
	// WriteURL is its remote-write endpoint, OTLPURL its OTLP one.
	WriteURL, OTLPURL string
}

// StartPrometheus3 starts it on a free 127.0.0.1 port with its receivers
// on, series labelled with their metadata's type and unit (__type__,
// __unit__: the only way to query back what a receiver was told, since
// /api/v1/metadata lists scraped targets' only), and start timestamps
// stored as a zero sample, so that a test can see them. args are extra
// flags, like --web.remote-write-receiver.accepted-protobuf-messages.
func StartPrometheus3(t testing.TB, args ...string) *Prometheus3 {
	t.Helper()
	bin := RequireReceiver(t, "prometheus", "PROM_VERSION")
	p := StartPrometheus(t, PrometheusOptions{Binary: bin, Args: append([]string{
		"--web.enable-otlp-receiver",
		"--web.enable-remote-write-receiver",
		"--enable-feature=type-and-unit-labels,created-timestamp-zero-ingestion",
	}, args...)})
	return &Prometheus3{Prometheus: p, WriteURL: p.URL + "/api/v1/write", OTLPURL: p.URL + "/api/v1/otlp/v1/metrics"}
}

// metadataEntry is one of /api/v1/metadata's answers.
type metadataEntry struct {
	Type, Help, Unit string
}

// Metadata returns what VictoriaMetrics' /api/v1/metadata says of metric.
func (v *VictoriaMetrics) Metadata(t testing.TB, metric string) (typ, help, unit string) {
	t.Helper()
	var out struct {
		Data map[string][]metadataEntry `json:"data"`
	}
	getJSON(t, v.URL+"/api/v1/metadata?metric="+metric, &out)
	for _, m := range out.Data[metric] {
		return m.Type, m.Help, m.Unit
	}
	return "", "", ""
}

// getJSON GETs url, wants 200 and decodes the body into v.
func getJSON(t testing.TB, url string, v any) {
	t.Helper()
	status, body, err := get(url, "", "")
	if err == nil && status != 200 {
		err = fmt.Errorf("GET %s: %d %s", url, status, strings.TrimSpace(string(body)))
	}
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// Series is one series of VictoriaMetrics' /api/v1/export: its labels
// and every sample, timestamps in ms.
type Series struct {
	Metric     map[string]string `json:"metric"`
	Values     []float64         `json:"values"`
	Timestamps []int64           `json:"timestamps"`
}

// Export returns the series matching the selector match, with their raw
// samples and timestamps: what a query cannot show exactly.
func (v *VictoriaMetrics) Export(t testing.TB, match string) []Series {
	t.Helper()
	status, body, err := get(v.URL+"/api/v1/export?match[]="+url.QueryEscape(match), "", "")
	if err == nil && status != 200 {
		err = fmt.Errorf("export %s: %d %s", match, status, strings.TrimSpace(string(body)))
	}
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	var out []Series
	for line := range strings.SplitSeq(strings.TrimSpace(string(body)), "\n") {
		if line == "" {
			continue
		}
		var s Series
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("testenv: export %s: %v in %q", match, err, line)
		}
		out = append(out, s)
	}
	return out
}
