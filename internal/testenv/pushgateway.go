package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// PushgatewayOptions configures StartPushgateway. The zero value starts a
// gateway without authentication.
type PushgatewayOptions struct {
	// Username and Password, when either is set, turn on HTTP basic auth
	// for every endpoint of the gateway, /-/ready and /metrics included.
	Username, Password string
	// WebConfigFile, if set, is an exporter-toolkit web config used as is
	// (e.g. an example's web-config.yml with its bcrypt'd users) instead of
	// one written from Username and Password. Username and Password must
	// then be credentials it accepts: the readiness check and the helpers
	// (Metrics, Groups) send them.
	WebConfigFile string
	// Args are extra command-line flags, e.g. "--web.enable-admin-api".
	Args []string
}

// Pushgateway is a running prometheus-pushgateway, stopped when the test
// that started it ends.
type Pushgateway struct {
	// URL is the base URL, "http://127.0.0.1:PORT", without a trailing slash.
	URL string
	// Addr is "127.0.0.1:PORT", the form a Prometheus scrape target takes.
	Addr string
	// Username and Password are the basic auth credentials, empty if none.
	Username, Password string
	// LogFile holds the gateway's stdout and stderr.
	LogFile string

	srv *server
}

// Stop shuts the gateway down (SIGTERM), for tests of a gateway that went
// away; it stays down.
func (p *Pushgateway) Stop() { p.srv.stop() }

// StartPushgateway starts a Pushgateway on a free 127.0.0.1 port, with
// persistence off, and waits until /-/ready answers 200.
//
// Persistence is off because the Debian package's default persistence file
// is /var/lib/prometheus/pushgateway.data: shared by every test and every
// run, and owned by the system's own gateway.
func StartPushgateway(t testing.TB, opts PushgatewayOptions) *Pushgateway {
	t.Helper()
	bin := RequireBinary(t, "prometheus-pushgateway", "pushgateway")
	dir := t.TempDir()
	webConfig := opts.WebConfigFile
	if webConfig == "" {
		webConfig = filepath.Join(dir, "web-config.yml")
		if err := os.WriteFile(webConfig, pushgatewayWebConfig(t, opts), 0o600); err != nil {
			t.Fatalf("testenv: pushgateway: write web config: %v", err)
		}
	} else if abs, err := filepath.Abs(webConfig); err == nil {
		webConfig = abs // the process runs in another directory
	}
	s := startServer(t, "pushgateway", bin,
		func(addr string) []string {
			return append([]string{
				"--web.listen-address=" + addr,
				"--web.config.file=" + webConfig,
				"--persistence.file=",
				"--log.level=debug",
			}, opts.Args...)
		},
		func(addr string) error {
			return checkReady("http://"+addr+"/-/ready", opts.Username, opts.Password)
		})
	return &Pushgateway{
		URL:      "http://" + s.addr,
		Addr:     s.addr,
		Username: opts.Username,
		Password: opts.Password,
		LogFile:  s.logPath,
		srv:      s,
	}
}

// pushgatewayWebConfig renders an exporter-toolkit web config. The
// password is hashed with bcrypt's minimum cost: the gateway checks the
// hash on every request and Prometheus scrapes every second, and strength
// is worthless for a throwaway test password.
func pushgatewayWebConfig(t testing.TB, opts PushgatewayOptions) []byte {
	t.Helper()
	if opts.Username == "" && opts.Password == "" {
		// An empty web config is valid and means: no TLS, no auth.
		return nil
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
	if err != nil {
		t.Fatalf("testenv: pushgateway: hash password: %v", err)
	}
	return []byte("basic_auth_users:\n  " + yamlString(opts.Username) + ": " + yamlString(string(hash)) + "\n")
}

// Metrics returns the gateway's /metrics page, fetched with its
// credentials. It holds every pushed group plus the gateway's own metrics.
func (p *Pushgateway) Metrics(t testing.TB) string {
	t.Helper()
	return string(p.mustGet(t, "/metrics"))
}

// Group is one group of metrics held by the gateway, as /api/v1/metrics
// reports it.
type Group struct {
	// Labels is the grouping key: job plus any further labels in the push URL.
	Labels map[string]string `json:"labels"`
	// LastPushSuccessful is false when the last push to this group was
	// rejected, e.g. by the consistency check.
	LastPushSuccessful bool `json:"last_push_successful"`
	// MetricNames are the metric families in the group, sorted. They
	// include push_time_seconds and push_failure_time_seconds, which the
	// gateway adds to every group.
	MetricNames []string `json:"-"`
	// Raw is the group's JSON object as the gateway sent it.
	Raw json.RawMessage `json:"-"`
}

// Groups returns every group the gateway holds, from /api/v1/metrics.
func (p *Pushgateway) Groups(t testing.TB) []Group {
	t.Helper()
	body := p.mustGet(t, "/api/v1/metrics")
	var resp struct {
		Status string            `json:"status"`
		Data   []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("testenv: pushgateway: decode /api/v1/metrics: %v\n%s", err, body)
	}
	if resp.Status != "success" {
		t.Fatalf("testenv: pushgateway: /api/v1/metrics status %q\n%s", resp.Status, body)
	}
	groups := make([]Group, 0, len(resp.Data))
	for _, raw := range resp.Data {
		g := Group{Raw: raw}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &g); err != nil {
			t.Fatalf("testenv: pushgateway: decode group: %v\n%s", err, raw)
		}
		if err := json.Unmarshal(raw, &fields); err != nil {
			t.Fatalf("testenv: pushgateway: decode group: %v\n%s", err, raw)
		}
		for name := range fields {
			if name != "labels" && name != "last_push_successful" {
				g.MetricNames = append(g.MetricNames, name)
			}
		}
		sort.Strings(g.MetricNames)
		groups = append(groups, g)
	}
	return groups
}

func (p *Pushgateway) mustGet(t testing.TB, path string) []byte {
	t.Helper()
	status, body, err := get(p.URL+path, p.Username, p.Password)
	if err != nil {
		t.Fatalf("testenv: pushgateway: %v", err)
	}
	if status != http.StatusOK {
		t.Fatalf("testenv: pushgateway: GET %s: status %d\n%s", path, status, body)
	}
	return body
}

// yamlString quotes s as a YAML double-quoted scalar. JSON string syntax
// is a subset of it, and bcrypt hashes start with "$2a$", which must not be
// left bare.
func yamlString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("testenv: marshal string: %v", err)) // cannot happen for a string
	}
	return strings.TrimSpace(string(b))
}
