package e2e

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	toolkit "github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/pushagent/pushagent/internal/testenv"
)

// examples/compose, the docker compose setup our users come from, run here
// without containers: the same files, the same binaries, 127.0.0.1 ports
// instead of service names. What the test may change in the example's
// files is only where things are: addresses and secret paths.

// composeDir is examples/compose, from the e2e package's directory.
var composeDir = filepath.Join("..", "examples", "compose")

// composeExample reads a file of the example.
func composeExample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(composeDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// composeAbs is the absolute path of a file of the example.
func composeAbs(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(composeDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rewriteOnly replaces every occurrence of each old string of pairs (old,
// new, old, new…), which must occur, and checks that no line other than the
// ones holding them changed: the test runs the example's file, not a copy
// that drifted from it.
func rewriteOnly(t *testing.T, name, text string, pairs ...string) string {
	t.Helper()
	out := text
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(text, pairs[i]) {
			t.Fatalf("%s: %q does not occur", name, pairs[i])
		}
		out = strings.ReplaceAll(out, pairs[i], pairs[i+1])
	}
	before, after := strings.Split(text, "\n"), strings.Split(out, "\n")
	if len(before) != len(after) {
		t.Fatalf("%s: rewriting changed the number of lines", name)
	}
	for i := range before {
		if before[i] == after[i] {
			continue
		}
		touched := false
		for j := 0; j < len(pairs); j += 2 {
			touched = touched || strings.Contains(before[i], pairs[j])
		}
		if !touched {
			t.Fatalf("%s:%d changed by the rewrite: %q → %q", name, i+1, before[i], after[i])
		}
	}
	return out
}

// composeReplica is one worker replica: worker/entrypoint.sh running the
// worker and its agent, as the container's PID 1 does.
type composeReplica struct {
	name, workerAddr, listenAddr string
	cmd                          *exec.Cmd
	done                         chan error
	mu                           sync.Mutex
	out                          strings.Builder
}

func (r *composeReplica) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.Write(b)
}

func (r *composeReplica) log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

func startComposeReplica(t *testing.T, name, listenAddr string, env []string) *composeReplica {
	t.Helper()
	r := &composeReplica{name: name, workerAddr: testenv.FreeAddr(t), listenAddr: listenAddr, done: make(chan error, 1)}
	r.cmd = exec.Command("/bin/sh", composeAbs(t, "worker/entrypoint.sh"))
	r.cmd.Env = append(os.Environ(), append(env,
		"HOSTNAME="+name,
		"FAUST_LISTEN="+r.workerAddr,
		"WORKER_ADDR="+r.workerAddr,
		"PUSHAGENT_LISTEN="+listenAddr,
	)...)
	r.cmd.Stdout, r.cmd.Stderr = r, r
	// A process group of its own, so the cleanup can kill the worker and
	// the agent too if the script is stuck.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		err := <-r.done
		r.done <- err
		if t.Failed() {
			t.Logf("replica %s log:\n%s", name, r.log())
		}
	})
	return r
}

// stop is docker stop: SIGTERM to the entrypoint, which must stop the agent
// (deleting its group) and the worker, and exit 0.
func (r *composeReplica) stop(t *testing.T) {
	t.Helper()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.done:
		r.done <- err
		if err != nil {
			t.Errorf("replica %s exited with %v after SIGTERM\n%s", r.name, err, r.log())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("replica %s did not stop within 20s of SIGTERM\n%s", r.name, r.log())
	}
	if c, err := net.DialTimeout("tcp", r.workerAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("replica %s: the worker still listens on %s after the replica stopped", r.name, r.workerAddr)
	}
}

// instancesOf is the sorted instance labels of samples.
func instancesOf(samples []testenv.Sample) []string {
	var out []string
	for _, s := range samples {
		out = append(out, s.Labels["instance"])
	}
	slices.Sort(out)
	return out
}

// TestComposeTopology runs examples/compose without Docker: the real
// Pushgateway with the example's web-config.yml, the real Prometheus with
// its prometheus.yml, and three replicas of worker/entrypoint.sh, each the
// example's worker plus a real pushagent on the example's agent.yaml. Each
// replica gets its own group; a stopped replica's group and series go.
func TestComposeTopology(t *testing.T) {
	agentBin := testenv.BuildGo(t, "pushagent", "./cmd/pushagent")
	workerBin := testenv.BuildGo(t, "faust-worker", "./examples/compose/worker")
	scrape := testenv.BuildGoArgs(t, "scrape.wasm", "./plugins/scrape", []string{"-buildmode=c-shared"}, "GOOS=wasip1", "GOARCH=wasm")
	testenv.RequireBinary(t, "/bin/sh")

	pushPassword := strings.TrimSpace(string(composeExample(t, "secrets/pushgateway_password")))
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{
		WebConfigFile: composeAbs(t, "web-config.yml"),
		Username:      "pusher",
		Password:      pushPassword,
	})

	names := []string{"replica-1", "replica-2", "replica-3"}
	listens := make([]string, len(names))
	for i := range names {
		listens[i] = testenv.FreeAddr(t)
	}
	dir := t.TempDir()
	// The pushagent job finds the replicas' listeners through Docker's DNS;
	// here they are three 127.0.0.1 ports, listed instead. Its basic auth
	// stays as it is.
	promConfig := rewriteOnly(t, "prometheus.yml", string(composeExample(t, "prometheus.yml")),
		`"pushgateway:9091"`, `"`+gw.Addr+`"`,
		"/run/secrets/prometheus_password", composeAbs(t, "secrets/prometheus_password"),
		"dns_sd_configs:", "static_configs:",
		`- names: ["worker"]`, `- targets: ["`+strings.Join(listens, `", "`)+`"]`,
		"type: A", "# type: A",
		"port: 9465", "# port: 9465",
		"refresh_interval: 15s", "# refresh_interval: 15s")
	promPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promPath, []byte(promConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := testenv.StartPrometheus(t, testenv.PrometheusOptions{ConfigFile: promPath})

	// agent.yaml is used as it is: everything that differs from the compose
	// setup comes from the environment, as its header says.
	env := []string{
		"FAUST_WORKER_BIN=" + workerBin,
		"PUSHAGENT_BIN=" + agentBin,
		"PUSHAGENT_CONFIG=" + composeAbs(t, "agent.yaml"),
		"PUSHAGENT_CACHE_DIR=" + filepath.Join(dir, "cache"),
		"PUSHGATEWAY_URL=" + gw.URL,
		"PUSHGATEWAY_PASSWORD_FILE=" + composeAbs(t, "secrets/pushgateway_password"),
		"PLUGINS_DIR=" + filepath.Dir(scrape),
		"DEPLOY_ENV=prod",
		"PUSHAGENT_WEB_CONFIG_FILE=" + composeAbs(t, "agent-web-config.yml"),
	}
	// As the worker image's build does: check the config and fill the
	// compilation cache, so three agents do not compile at once.
	validate := exec.Command(agentBin, "validate", "--config", composeAbs(t, "agent.yaml"))
	validate.Env = append(os.Environ(), append(env, "HOSTNAME=validate")...)
	if out, err := validate.CombinedOutput(); err != nil {
		t.Fatalf("validate agent.yaml: %v\n%s", err, out)
	}

	replicas := make([]*composeReplica, len(names))
	for i, name := range names {
		replicas[i] = startComposeReplica(t, name, listens[i], env)
	}

	// The first run may race the worker's start and fail; the next one
	// comes 15s (every) later, so allow for two.
	const wait = 45 * time.Second
	has := func(want []string) func([]testenv.Sample) bool {
		return func(s []testenv.Sample) bool { return slices.Equal(instancesOf(s), want) }
	}
	prom.WaitFor(t, `count by (instance) (faust_queue_depth{job="faust-prod"})`, wait, has(names))
	prom.WaitFor(t, `pushagent_collector_success{job="faust-prod",collector="faust"} == 1`, wait, has(names))
	for _, s := range prom.Query(t, `faust_events_total{job="faust-prod"}`) {
		for _, l := range []string{"exported_job", "exported_instance"} {
			if _, ok := s.Labels[l]; ok {
				t.Errorf("honor_labels did not keep the pushed labels: %v", s)
			}
		}
	}
	if got := composeGroups(t, gw); !slices.Equal(got, names) {
		t.Errorf("gateway groups of faust-prod = %v, want %v", got, names)
	}

	// The agents' listeners want basic auth (agent-web-config.yml):
	// Prometheus scrapes them with prometheus.yml's credentials, anyone
	// else gets 401, and the container's health check passes with the
	// worker's environment from docker-compose.yml.
	sortedListens := slices.Sorted(slices.Values(listens))
	prom.WaitFor(t, `up{job="pushagent"} == 1`, wait, has(sortedListens))
	checkComposeListeners(t, agentBin, replicas)

	// Every panel of the example's dashboard is valid PromQL and, but for
	// push failures (there are none: the series only appears with the
	// first failure), shows data.
	for _, q := range dashboardQueries(t) {
		if strings.Contains(q, "pushagent_push_failures_total") {
			prom.Query(t, q)
			continue
		}
		prom.WaitFor(t, q, 20*time.Second, nil)
	}

	// docker stop of one replica: its group is deleted at the gateway
	// (delete_on_shutdown), and Prometheus marks its series stale at the
	// next scrape.
	replicas[1].stop(t)
	rest := []string{"replica-1", "replica-3"}
	deadline := time.Now().Add(10 * time.Second)
	for got := composeGroups(t, gw); !slices.Equal(got, rest); got = composeGroups(t, gw) {
		if time.Now().After(deadline) {
			t.Fatalf("after stopping replica-2, gateway groups of faust-prod = %v, want %v", got, rest)
		}
		time.Sleep(200 * time.Millisecond)
	}
	prom.WaitFor(t, `count by (instance) (faust_queue_depth{job="faust-prod"})`, 20*time.Second, has(rest))
	prom.WaitFor(t, `count by (instance) (push_time_seconds{job="faust-prod"})`, 20*time.Second, has(rest))
	if log := replicas[1].log(); !strings.Contains(log, "group deleted from the gateway") {
		t.Errorf("replica-2's agent did not log deleting its group:\n%s", log)
	}
	promPassword := strings.TrimSpace(string(composeExample(t, "secrets/prometheus_password")))
	hcPassword := strings.TrimSpace(string(composeExample(t, "secrets/agent_healthcheck_password")))
	for _, r := range replicas {
		for _, pw := range []string{pushPassword, promPassword, hcPassword} {
			if strings.Contains(r.log(), pw) {
				t.Errorf("replica %s logged a password", r.name)
			}
		}
	}
}

// checkComposeListeners: each replica's agent refuses a request without
// credentials, and the worker service's health check, run as Docker would
// with the service's environment, passes.
func checkComposeListeners(t *testing.T, agentBin string, replicas []*composeReplica) {
	t.Helper()
	worker := loadCompose(t).Services["worker"]
	test := worker.Healthcheck.Test
	if len(test) < 3 || test[0] != "CMD" || filepath.Base(test[1]) != "pushagent" || test[2] != "healthcheck" {
		t.Fatalf("worker healthcheck test = %q, want [CMD …/pushagent healthcheck …]", test)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	for _, r := range replicas {
		resp, err := client.Get("http://" + r.listenAddr + "/metrics")
		if err != nil {
			t.Errorf("replica %s: GET /metrics: %v", r.name, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("replica %s: GET /metrics without credentials: %s, want 401", r.name, resp.Status)
		}
		env := []string{"PUSHAGENT_HEALTHCHECK_URL=http://" + r.listenAddr + "/healthz"}
		for k, v := range worker.Environment {
			if strings.HasPrefix(k, "PUSHAGENT_HEALTHCHECK_") {
				env = append(env, k+"="+strings.ReplaceAll(v, "/run/secrets/", composeAbs(t, "secrets")+"/"))
			}
		}
		cmd := exec.Command(agentBin, test[2:]...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("replica %s: the worker's health check failed: %v\n%s", r.name, err, out)
		}
	}
}

// composeGroups is the sorted instances of the gateway's faust-prod groups.
func composeGroups(t *testing.T, gw *testenv.Pushgateway) []string {
	t.Helper()
	var out []string
	for _, g := range gw.Groups(t) {
		if g.Labels["job"] == "faust-prod" {
			out = append(out, g.Labels["instance"])
		}
	}
	slices.Sort(out)
	return out
}

// dashboard is the part of a Grafana dashboard JSON the tests check.
type dashboard struct {
	Title  string           `json:"title"`
	Panels []dashboardPanel `json:"panels"`
}

type dashboardPanel struct {
	Type       string           `json:"type"`
	Title      string           `json:"title"`
	Datasource *dashboardSource `json:"datasource"`
	Targets    []struct {
		Expr       string           `json:"expr"`
		Datasource *dashboardSource `json:"datasource"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // a collapsed row's
}

type dashboardSource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(composeExample(t, "grafana/dashboards/pushagent.json"), &d); err != nil {
		t.Fatalf("grafana/dashboards/pushagent.json: %v", err)
	}
	return d
}

// dashboardQueries is every query of every panel, in order.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	var out []string
	var walk func([]dashboardPanel)
	walk = func(panels []dashboardPanel) {
		for _, p := range panels {
			for _, target := range p.Targets {
				out = append(out, target.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(loadDashboard(t).Panels)
	return out
}

// TestComposeDashboard: the provisioned dashboard parses, every panel has
// a query and uses the provisioned datasource, and the series the README
// promises are on it. TestComposeTopology runs the queries in Prometheus.
func TestComposeDashboard(t *testing.T) {
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(composeExample(t, "grafana/provisioning/datasources/prometheus.yml"), &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("want one provisioned prometheus datasource, got %+v", ds.Datasources)
	}
	uid := ds.Datasources[0].UID

	d := loadDashboard(t)
	if d.Title == "" {
		t.Error("dashboard has no title")
	}
	var check func([]dashboardPanel)
	check = func(panels []dashboardPanel) {
		for _, p := range panels {
			if p.Type == "row" {
				check(p.Panels)
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, target := range p.Targets {
				if strings.TrimSpace(target.Expr) == "" {
					t.Errorf("panel %q has an empty query", p.Title)
				}
				src := target.Datasource
				if src == nil {
					src = p.Datasource
				}
				if src == nil || src.UID != uid {
					t.Errorf("panel %q: datasource %+v, want uid %q (provisioned)", p.Title, src, uid)
				}
			}
		}
	}
	check(d.Panels)
	all := strings.Join(dashboardQueries(t), "\n")
	for _, want := range []string{
		"pushagent_collector_success",
		"pushagent_collector_duration_seconds",
		"rate(pushagent_push_failures_total[5m])",
		"time() - push_time_seconds",
		"faust_queue_depth",
		"rate(faust_events_total[1m])",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel queries %s", want)
		}
	}
}

// composeFile is the part of docker-compose.yml the tests check.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       map[string]any    `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Secrets     []string          `yaml:"secrets"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		Deploy struct {
			Replicas int `yaml:"replicas"`
		} `yaml:"deploy"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal(composeExample(t, "docker-compose.yml"), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// TestComposeFiles checks docker-compose.yml against the files beside it:
// what it mounts exists, and the settings the README explains are there.
func TestComposeFiles(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"pushgateway", "prometheus", "grafana", "pushagent", "worker"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("docker-compose.yml has no service %q", name)
		}
	}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, "./") {
				continue
			}
			if _, err := os.Stat(filepath.Join(composeDir, src)); err != nil {
				t.Errorf("service %s mounts %s: %v", name, src, err)
			}
		}
		for _, sec := range s.Secrets {
			if _, ok := c.Secrets[sec]; !ok {
				t.Errorf("service %s uses undefined secret %s", name, sec)
			}
		}
	}
	for name, sec := range c.Secrets {
		if _, err := os.Stat(filepath.Join(composeDir, sec.File)); err != nil {
			t.Errorf("secret %s: %v", name, err)
		}
	}
	if r := c.Services["worker"].Deploy.Replicas; r != 3 {
		t.Errorf("worker deploy.replicas = %d, want 3", r)
	}
	if !slices.Contains(c.Services["pushgateway"].Command, "--web.config.file=/etc/pushgateway/web-config.yml") {
		t.Errorf("pushgateway does not run with the web config: %v", c.Services["pushgateway"].Command)
	}
	for _, build := range []string{"pushagent", "worker"} {
		ctx, _ := c.Services[build].Build["context"].(string)
		df, _ := c.Services[build].Build["dockerfile"].(string)
		if _, err := os.Stat(filepath.Join(composeDir, ctx, df)); err != nil {
			t.Errorf("service %s builds %s/%s: %v", build, ctx, df, err)
		}
	}
	if _, err := os.Stat(filepath.Join(composeDir, "worker", "entrypoint.sh")); errors.Is(err, os.ErrNotExist) {
		t.Error("worker/entrypoint.sh is missing")
	}
}

// TestComposeWebConfigs checks the example's two web configs against the
// files that use them: both pass exporter-toolkit's own validation, the
// agents' is mounted where the worker's environment says, and every
// password a client sends (Prometheus's password_file, the health
// check's) is one a bcrypt hash of the right user accepts.
func TestComposeWebConfigs(t *testing.T) {
	c := loadCompose(t)
	worker := c.Services["worker"]
	for _, name := range []string{"web-config.yml", "agent-web-config.yml"} {
		if err := toolkit.Validate(composeAbs(t, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	webPath := worker.Environment["PUSHAGENT_WEB_CONFIG_FILE"]
	if webPath == "" || !slices.Contains(worker.Volumes, "./agent-web-config.yml:"+webPath+":ro") {
		t.Errorf("worker: PUSHAGENT_WEB_CONFIG_FILE=%q is not where ./agent-web-config.yml is mounted (%v)", webPath, worker.Volumes)
	}
	// secretFile maps a /run/secrets/NAME path to the example's file,
	// checking that the worker or Prometheus is given that secret.
	secretFile := func(service, path string) string {
		t.Helper()
		name, ok := strings.CutPrefix(path, "/run/secrets/")
		if !ok || !slices.Contains(c.Services[service].Secrets, name) || c.Secrets[name].File == "" {
			t.Fatalf("%s reads %s, which is not one of its compose secrets", service, path)
		}
		return c.Secrets[name].File
	}
	accepts := func(webConfig, user, secret string) {
		t.Helper()
		var w struct {
			Users map[string]string `yaml:"basic_auth_users"`
		}
		if err := yaml.Unmarshal(composeExample(t, webConfig), &w); err != nil {
			t.Fatalf("%s: %v", webConfig, err)
		}
		hash, ok := w.Users[user]
		if !ok {
			t.Errorf("%s has no user %q", webConfig, user)
			return
		}
		password := strings.TrimRight(string(composeExample(t, secret)), "\n")
		if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)); err != nil {
			t.Errorf("%s: user %s's hash does not match %s: %v", webConfig, user, secret, err)
		}
	}
	accepts("agent-web-config.yml", worker.Environment["PUSHAGENT_HEALTHCHECK_USERNAME"],
		secretFile("worker", worker.Environment["PUSHAGENT_HEALTHCHECK_PASSWORD_FILE"]))
	if test := worker.Healthcheck.Test; len(test) < 3 || test[2] != "healthcheck" {
		t.Errorf("worker has no pushagent healthcheck: %q", test)
	}

	var prom struct {
		ScrapeConfigs []struct {
			JobName   string `yaml:"job_name"`
			BasicAuth struct {
				Username     string `yaml:"username"`
				PasswordFile string `yaml:"password_file"`
			} `yaml:"basic_auth"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(composeExample(t, "prometheus.yml"), &prom); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	scraped := map[string]string{"pushgateway": "web-config.yml", "pushagent": "agent-web-config.yml"}
	for _, sc := range prom.ScrapeConfigs {
		webConfig, ok := scraped[sc.JobName]
		if !ok {
			continue
		}
		delete(scraped, sc.JobName)
		if sc.BasicAuth.Username == "" {
			t.Errorf("prometheus.yml: job %s has no basic_auth", sc.JobName)
			continue
		}
		accepts(webConfig, sc.BasicAuth.Username, secretFile("prometheus", sc.BasicAuth.PasswordFile))
	}
	if len(scraped) > 0 {
		t.Errorf("prometheus.yml has no scrape job %v", scraped)
	}
}
