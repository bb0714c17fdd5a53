//go:build image

package imagetest

import (
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// examples/compose is never run with a container engine in CI (e2e's
// TestCompose runs its files without containers). This checks that what
// docker-compose.yml and the worker's Dockerfile name — images, paths,
// ports, environment variables, secrets — is what the pushagent image and
// the example's configs really hold, so the compose file cannot drift
// from them unnoticed.

var composeDir = filepath.Join(repoRoot, "examples", "compose")

type composeFile struct {
	Services map[string]composeService
	Secrets  map[string]struct{ File string }
}

type composeService struct {
	Image string
	Build *struct {
		Context            string
		Dockerfile         string
		AdditionalContexts map[string]string `yaml:"additional_contexts"`
	}
	Command     []string
	Environment map[string]string
	Volumes     []string
	Secrets     []string
	Ports       []string
}

// mounts returns a service's bind mounts, container path → host path
// (relative to the compose file).
func (s composeService) mounts() map[string]string {
	out := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 {
			out[parts[1]] = parts[0]
		}
	}
	return out
}

// commandSource is the agent command's Go source (tests left out): the
// environment variables it reads are named there.
func commandSource(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "cmd", "pushagent", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("cmd/pushagent sources: %v", err)
	}
	var b strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(composeDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// envDefault returns the default of ${name:-default} in text.
func envDefault(t *testing.T, file, text, name string) string {
	t.Helper()
	m := regexp.MustCompile(`\$\{`+name+`:-([^}]*)\}`).FindAllStringSubmatch(text, -1)
	if len(m) == 0 {
		t.Errorf("%s: no ${%s:-…}", file, name)
		return ""
	}
	for _, o := range m[1:] {
		if o[1] != m[0][1] {
			t.Errorf("%s: ${%s} has two defaults, %q and %q", file, name, m[0][1], o[1])
		}
	}
	return m[0][1]
}

func TestComposeMatchesImage(t *testing.T) {
	p := newPodman(t)
	img := p.inspectImage(t)
	root := p.root(t)
	inImage := func(what, file, pth string) {
		t.Helper()
		if _, err := os.Stat(filepath.Join(root, pth)); err != nil {
			t.Errorf("%s: %s %s is not in the image %s", file, what, pth, p.image)
		}
	}
	onHost := func(what, file, pth string) {
		t.Helper()
		if _, err := os.Stat(filepath.Join(composeDir, pth)); err != nil {
			t.Errorf("%s: %s %s: %v", file, what, pth, err)
		}
	}

	var cf composeFile
	if err := yaml.Unmarshal([]byte(readExample(t, "docker-compose.yml")), &cf); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	const dc = "docker-compose.yml"
	service := func(name string) composeService {
		t.Helper()
		s, ok := cf.Services[name]
		if !ok {
			t.Fatalf("%s: no service %q", dc, name)
		}
		return s
	}
	agentYAML := readExample(t, "agent.yaml")
	promYAML := readExample(t, "prometheus.yml")
	entrypoint := readExample(t, "worker/entrypoint.sh")
	workerDockerfile := readExample(t, "worker/Dockerfile")

	// Every build names a Dockerfile that exists, relative to its context.
	for name, s := range cf.Services {
		if s.Build == nil {
			if s.Image == "" {
				t.Errorf("%s: service %s has neither image nor build", dc, name)
			}
			continue
		}
		onHost("service "+name+" Dockerfile", dc, filepath.Join(s.Build.Context, s.Build.Dockerfile))
	}
	// The pushagent service is the image under test: the repository's
	// Dockerfile, which `make image` builds.
	if b := service("pushagent").Build; b == nil || path.Clean(path.Join("examples/compose", b.Context, b.Dockerfile)) != "Dockerfile" {
		t.Errorf("%s: service pushagent must build the repository's Dockerfile", dc)
	}

	// The worker image takes the agent from the pushagent image: the
	// additional context's name is the FROM of its Dockerfile, and every
	// path it copies from there exists in the image.
	worker := service("worker")
	var agentCtx string
	for name, src := range worker.Build.AdditionalContexts {
		if src == "service:pushagent" {
			agentCtx = name
		}
	}
	stage := regexp.MustCompile(`(?m)^FROM ` + regexp.QuoteMeta(agentCtx) + ` AS (\S+)$`).FindStringSubmatch(workerDockerfile)
	if agentCtx == "" || stage == nil {
		t.Fatalf("%s: worker's additional context from service:pushagent (%q) is not a FROM … AS of worker/Dockerfile", dc, agentCtx)
	}
	copied := map[string]string{} // destination → source, copied from the pushagent image
	for _, m := range regexp.MustCompile(`(?m)^COPY --from=`+regexp.QuoteMeta(stage[1])+`(?: --\S+)* (\S+) (\S+)$`).FindAllStringSubmatch(workerDockerfile, -1) {
		inImage("COPY --from="+stage[1]+" source", "worker/Dockerfile", m[1])
		copied[strings.TrimSuffix(m[2], "/")] = strings.TrimSuffix(m[1], "/")
	}
	if len(copied) == 0 {
		t.Errorf("worker/Dockerfile: copies nothing from the pushagent image")
	}
	// ENV it shares with the image must agree with it.
	for _, m := range regexp.MustCompile(`(?m)^ENV (\w+)=(\S+)$`).FindAllStringSubmatch(workerDockerfile, -1) {
		if v, ok := img.env(m[1]); ok && v != m[2] {
			t.Errorf("worker/Dockerfile: ENV %s=%s, the pushagent image has %s", m[1], m[2], v)
		}
		if m[1] == "PUSHAGENT_CACHE_DIR" && copied[m[2]] == "" {
			t.Errorf("worker/Dockerfile: PUSHAGENT_CACHE_DIR=%s is not the warm cache it copies from the image", m[2])
		}
	}
	// The binary the entrypoint starts is the one copied from the image.
	if bin := envDefault(t, "worker/entrypoint.sh", entrypoint, "PUSHAGENT_BIN"); copied[bin] == "" {
		t.Errorf("worker/entrypoint.sh: PUSHAGENT_BIN defaults to %s, which worker/Dockerfile does not copy from the image", bin)
	}

	// The agent's config: mounted where the entrypoint reads it.
	agentConfig := envDefault(t, "worker/entrypoint.sh", entrypoint, "PUSHAGENT_CONFIG")
	if src, ok := worker.mounts()[agentConfig]; !ok || path.Clean(src) != "agent.yaml" {
		t.Errorf("%s: worker must mount ./agent.yaml at %s (worker/entrypoint.sh's config); mounts: %v", dc, agentConfig, worker.Volumes)
	}
	if !strings.Contains(workerDockerfile, "COPY examples/compose/agent.yaml "+agentConfig+"\n") {
		t.Errorf("worker/Dockerfile: does not bake agent.yaml in at %s", agentConfig)
	}

	// Ports: the worker publishes what its Dockerfile exposes, which is
	// where the agent (entrypoint.sh, the image's EXPOSE) and the worker
	// (agent.yaml's WORKER_ADDR) listen.
	exposed := strings.Fields(regexp.MustCompile(`(?m)^EXPOSE (.+)$`).FindStringSubmatch(workerDockerfile)[1])
	published := slices.Clone(worker.Ports)
	slices.Sort(exposed)
	slices.Sort(published)
	if !slices.Equal(exposed, published) {
		t.Errorf("%s: worker publishes %v, worker/Dockerfile exposes %v", dc, published, exposed)
	}
	_, agentPort, _ := net.SplitHostPort(envDefault(t, "worker/entrypoint.sh", entrypoint, "PUSHAGENT_LISTEN"))
	if _, ok := img.Config.ExposedPorts[agentPort+"/tcp"]; !ok {
		t.Errorf("worker/entrypoint.sh: the agent listens on %s, the image exposes %v", agentPort, img.Config.ExposedPorts)
	}
	_, workerPort, _ := net.SplitHostPort(envDefault(t, "agent.yaml", agentYAML, "WORKER_ADDR"))
	for _, port := range []string{agentPort, workerPort} {
		if !slices.Contains(published, port) {
			t.Errorf("%s: worker does not publish port %s", dc, port)
		}
	}
	if !strings.Contains(readExample(t, "worker/main.go"), `"FAUST_LISTEN", ":`+workerPort+`"`) {
		t.Errorf("worker/main.go: does not listen on :%s, agent.yaml's WORKER_ADDR", workerPort)
	}
	// Prometheus finds the agents by the worker service's name and port.
	if !strings.Contains(promYAML, `names: ["worker"]`) || !regexp.MustCompile(`(?m)^\s+port: `+agentPort+`$`).MatchString(promYAML) {
		t.Errorf("prometheus.yml: the pushagent job must discover service worker on port %s", agentPort)
	}

	// The environment: what compose sets is read by agent.yaml, by the
	// entrypoint or by the agent itself (healthcheck's PUSHAGENT_HEALTHCHECK_*),
	// and the defaults the compose file quotes are agent.yaml's.
	agentSource := commandSource(t)
	for name := range worker.Environment {
		if !strings.Contains(agentYAML, "${"+name) && !strings.Contains(entrypoint, "${"+name) && !strings.Contains(agentSource, `"`+name+`"`) {
			t.Errorf("%s: worker sets %s, which neither agent.yaml, worker/entrypoint.sh nor the agent reads", dc, name)
		}
	}
	quoted := regexp.MustCompile(`(\w+)=(\S+?)[,.]?(?:\s|$)`).FindAllStringSubmatch(
		regexp.MustCompile(`# Defaults in agent.yaml: ((?:.|\n\s*#)*?)\n\s*[^#\s]`).FindString(readExample(t, "docker-compose.yml")), -1)
	if len(quoted) == 0 {
		t.Errorf("%s: the worker's comment quoting agent.yaml's defaults is gone", dc)
	}
	for _, m := range quoted {
		if got := envDefault(t, "agent.yaml", agentYAML, m[1]); got != m[2] {
			t.Errorf("%s says %s defaults to %s, agent.yaml says %s", dc, m[1], m[2], got)
		}
	}
	inImage("PLUGINS_DIR's scrape plugin", "agent.yaml", envDefault(t, "agent.yaml", agentYAML, "PLUGINS_DIR")+"/scrape.wasm")
	gwURL := envDefault(t, "agent.yaml", agentYAML, "PUSHGATEWAY_URL")
	gwHostPort := strings.TrimPrefix(gwURL, "http://")
	gwHost, gwPort, _ := net.SplitHostPort(gwHostPort)
	if _, ok := cf.Services[gwHost]; !ok || !slices.Contains(cf.Services[gwHost].Ports, gwPort+":"+gwPort) {
		t.Errorf("agent.yaml: PUSHGATEWAY_URL %s is not service %s's port %s", gwURL, gwHost, gwPort)
	}
	if !strings.Contains(promYAML, `targets: ["`+gwHostPort+`"]`) {
		t.Errorf("prometheus.yml: does not scrape %s, the gateway agent.yaml pushes to", gwHostPort)
	}

	// Secrets: files exist, and each config reads its service's secret
	// where compose mounts it (/run/secrets/<name>).
	for name, s := range cf.Secrets {
		onHost("secret "+name, dc, s.File)
	}
	secretOf := func(svc, file, path string) {
		t.Helper()
		name, ok := strings.CutPrefix(path, "/run/secrets/")
		if !ok || !slices.Contains(service(svc).Secrets, name) {
			t.Errorf("%s: reads %s, but compose gives service %s the secrets %v", file, path, svc, service(svc).Secrets)
		}
		if _, ok := cf.Secrets[name]; !ok {
			t.Errorf("%s: no top-level secret %s", dc, name)
		}
	}
	secretOf("worker", "agent.yaml", envDefault(t, "agent.yaml", agentYAML, "PUSHGATEWAY_PASSWORD_FILE"))
	if m := regexp.MustCompile(`password_file: (\S+)`).FindStringSubmatch(promYAML); m == nil {
		t.Error("prometheus.yml: no password_file")
	} else {
		secretOf("prometheus", "prometheus.yml", m[1])
	}

	// Files passed by flag are mounted where the flag says.
	flagMount := func(svc, flag, local string) {
		t.Helper()
		s := service(svc)
		for _, arg := range s.Command {
			if v, ok := strings.CutPrefix(arg, flag+"="); ok {
				if src := s.mounts()[v]; path.Clean(src) != local {
					t.Errorf("%s: %s %s=%s, but ./%s is not mounted there (mounts: %v)", dc, svc, flag, v, local, s.Volumes)
				}
				onHost(svc+" "+flag, dc, local)
				return
			}
		}
		t.Errorf("%s: service %s has no %s", dc, svc, flag)
	}
	flagMount("pushgateway", "--web.config.file", "web-config.yml")
	flagMount("prometheus", "--config.file", "prometheus.yml")

	// Grafana: mounted directories exist; the home dashboard is a file
	// under the dashboards mount; the provisioning reads that mount.
	grafana := service("grafana")
	for dst, src := range grafana.mounts() {
		onHost("grafana mount "+dst, dc, src)
	}
	home := grafana.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	found := false
	for dst, src := range grafana.mounts() {
		if rel, ok := strings.CutPrefix(home, dst+"/"); ok {
			found = true
			onHost("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", dc, filepath.Join(src, rel))
			if !strings.Contains(readExample(t, filepath.Join(src, "..", "provisioning", "dashboards", "pushagent.yml")), "path: "+dst+"\n") {
				t.Errorf("grafana/provisioning/dashboards/pushagent.yml: does not read %s, where %s mounts the dashboards", dst, dc)
			}
		}
	}
	if !found {
		t.Errorf("%s: GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH %q is under no grafana mount", dc, home)
	}
}
