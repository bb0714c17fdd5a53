package config_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/agent/config"
)

// fixture creates the files a config refers to in a fresh directory and
// returns the directory and the path of schedules.yaml inside it (not created).
func fixture(t testing.TB) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	for _, d := range []string{"plugins", "textfiles", "app.d", "secrets"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"plugins/textfile.wasm": "\x00asm\x01\x00\x00\x00",
		"secrets/password":      "pw-from-file\n",
		"secrets/token":         "token-from-file\r\n",
		"secrets/empty":         "",
		"ca.pem":                "ca",
		"cert.pem":              "cert",
		"key.pem":               "key",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, filepath.Join(dir, "schedules.yaml")
}

// testOptions injects a fixed environment and host name; tests never read
// the real process environment.
func testOptions(env ...string) config.Options {
	base := []string{"ZONE=eu", "USER_NAME=pusher", "API_TOKEN=tok-123", "EMPTY="}
	return config.Options{
		Environ:  func() []string { return append(base, env...) },
		Hostname: func() (string, error) { return "host-1", nil },
	}
}

const fullConfig = `
gateway:
  url: https://${GW_HOST:-gateway.local}:9091
  timeout: 3s
  basic_auth:
    username: ${USER_NAME}
    password_file: secrets/password
  tls:
    ca_file: ca.pem
    cert_file: cert.pem
    key_file: key.pem
    server_name: gw.internal
    insecure_skip_verify: false
defaults:
  grouping: {instance: "${HOSTNAME}"}
  method: post
  timeout: 4s
  memory_limit: 16MiB
  max_output: 512KiB
  series_limit: 500
  expire_after: 72h
jobs:
  - name: faust-workers
    every: 15s
    jitter: 2s
    grouping: {zone: "${ZONE}", instance: "${EMPTY:-override}"}
    delete_on_shutdown: true
    expire_after: 1m
    collectors:
      - name: queue
        plugin: plugins/textfile.wasm
        config:
          path: /textfile
          price: "$$5 costs $$$$ ${MISSING:-none} $"
          a.b: {c.d: 1}
          list: [1, "x", {k: "${ZONE}"}]
        timeout: 1s
        memory_limit: 65536
        max_output: 1MB
        series_limit: "50"
        labels: {team: a}
        mounts: {/textfile: ./textfiles, /etc/app.d/: app.d}
        env: [API_TOKEN, EMPTY]
      - name: load
        plugin: ./plugins/../plugins/textfile.wasm
  - name: nightly
    cron: "0 30 2 * * *"
    method: PUT
    collectors:
      - name: x
        plugin: ${DIR}/plugins/textfile.wasm
`

func TestParseFull(t *testing.T) {
	dir, path := fixture(t)
	cfg, err := config.Parse([]byte(fullConfig), path, testOptions("DIR="+dir))
	if err != nil {
		t.Fatal(err)
	}
	plugin := filepath.Join(dir, "plugins", "textfile.wasm")
	if cfg.Path != path {
		t.Errorf("Path = %q, want %q", cfg.Path, path)
	}

	gw := cfg.Gateway
	if gw.URL != "https://gateway.local:9091" || gw.Timeout != 3*time.Second || gw.BearerToken != "" {
		t.Errorf("gateway = %q %v %q", gw.URL, gw.Timeout, gw.BearerToken.Reveal())
	}
	if gw.BasicAuth == nil || gw.BasicAuth.Username != "pusher" || gw.BasicAuth.Password.Reveal() != "pw-from-file" {
		t.Errorf("basic auth = %#v", gw.BasicAuth)
	}
	wantTLS := config.TLS{
		CAFile:     filepath.Join(dir, "ca.pem"),
		CertFile:   filepath.Join(dir, "cert.pem"),
		KeyFile:    filepath.Join(dir, "key.pem"),
		ServerName: "gw.internal",
	}
	if gw.TLS != wantTLS {
		t.Errorf("TLS = %+v, want %+v", gw.TLS, wantTLS)
	}

	wantJobs := []config.Job{{
		Name:             "faust-workers",
		Every:            15 * time.Second,
		Jitter:           2 * time.Second,
		Grouping:         map[string]string{"instance": "override", "zone": "eu"},
		Method:           "post",
		DeleteOnShutdown: true,
		ExpireAfter:      time.Minute,
		Collectors: []config.Collector{{
			Name:        "queue",
			Plugin:      plugin,
			Config:      []byte(`{"a.b":{"c.d":1},"list":[1,"x",{"k":"eu"}],"path":"/textfile","price":"$5 costs $$ none $"}`),
			Timeout:     time.Second,
			MemoryLimit: 64 << 10,
			MaxOutput:   1e6,
			SeriesLimit: 50,
			Labels:      map[string]string{"team": "a"},
			Mounts: map[string]string{
				"/textfile":  filepath.Join(dir, "textfiles"),
				"/etc/app.d": filepath.Join(dir, "app.d"),
			},
			Env: map[string]string{"API_TOKEN": "tok-123", "EMPTY": ""},

			TimeoutSetAt: "jobs[0].collectors[0].timeout",
		}, {
			Name:        "load",
			Plugin:      plugin,
			Config:      []byte("{}"),
			Timeout:     4 * time.Second,
			MemoryLimit: 16 << 20,
			MaxOutput:   512 << 10,
			SeriesLimit: 500,
			Labels:      map[string]string{},
			Mounts:      map[string]string{},
			Env:         map[string]string{},

			TimeoutSetAt: "defaults.timeout",
		}},
	}, {
		Name:        "nightly",
		Cron:        "0 30 2 * * *",
		Grouping:    map[string]string{"instance": "host-1"},
		Method:      "put",
		ExpireAfter: 72 * time.Hour, // from defaults: 3 × the daily gap
		Collectors: []config.Collector{{
			Name:        "x",
			Plugin:      plugin,
			Config:      []byte("{}"),
			Timeout:     4 * time.Second,
			MemoryLimit: 16 << 20,
			MaxOutput:   512 << 10,
			SeriesLimit: 500,
			Labels:      map[string]string{},
			Mounts:      map[string]string{},
			Env:         map[string]string{},

			TimeoutSetAt: "defaults.timeout",
		}},
	}}
	compareJobs(t, cfg.Jobs, wantJobs)
}

// compareJobs compares field by field: Collector redacts itself in fmt
// output, so a failing DeepEqual on whole jobs would not show the difference.
func compareJobs(t *testing.T, got, want []config.Job) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d jobs, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		gc, wc := g.Collectors, w.Collectors
		g.Collectors, w.Collectors = nil, nil
		if !reflect.DeepEqual(g, w) {
			t.Errorf("job %d:\n got %+v\nwant %+v", i, g, w)
		}
		if len(gc) != len(wc) {
			t.Fatalf("job %d: got %d collectors, want %d", i, len(gc), len(wc))
		}
		for j := range wc {
			g, w := gc[j], wc[j]
			check := func(field string, got, want any) {
				if !reflect.DeepEqual(got, want) {
					t.Errorf("job %d collector %d %s:\n got %v\nwant %v", i, j, field, got, want)
				}
			}
			check("Name", g.Name, w.Name)
			check("Plugin", g.Plugin, w.Plugin)
			check("Config", string(g.Config), string(w.Config))
			check("Timeout", g.Timeout, w.Timeout)
			check("TimeoutSetAt", g.TimeoutSetAt, w.TimeoutSetAt)
			check("MemoryLimit", g.MemoryLimit, w.MemoryLimit)
			check("MaxOutput", g.MaxOutput, w.MaxOutput)
			check("SeriesLimit", g.SeriesLimit, w.SeriesLimit)
			check("Labels", g.Labels, w.Labels)
			check("Mounts", g.Mounts, w.Mounts)
			check("Env", g.Env, w.Env)
		}
	}
}

// TestDefaults checks the built-in defaults with a minimal config.
func TestDefaults(t *testing.T) {
	dir, path := fixture(t)
	cfg, err := config.Parse([]byte(`
gateway: {url: "http://127.0.0.1:9091"}
jobs:
  - name: j
    every: 1s
    collectors: [{name: c, plugin: plugins/textfile.wasm}]
`), path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	gw := cfg.Gateway
	if gw.URL != "http://127.0.0.1:9091" || gw.Timeout != 10*time.Second || gw.BasicAuth != nil || gw.BearerToken != "" || gw.TLS != (config.TLS{}) {
		t.Errorf("gateway = %+v", gw)
	}
	compareJobs(t, cfg.Jobs, []config.Job{{
		Name:     "j",
		Every:    time.Second,
		Grouping: map[string]string{},
		Method:   "put",
		Collectors: []config.Collector{{
			Name:        "c",
			Plugin:      filepath.Join(dir, "plugins", "textfile.wasm"),
			Config:      []byte("{}"),
			Timeout:     5 * time.Second,
			MemoryLimit: 32 << 20,
			MaxOutput:   1 << 20,
			SeriesLimit: 10000,
			Labels:      map[string]string{},
			Mounts:      map[string]string{},
			Env:         map[string]string{},
		}},
	}})
}

// TestDottedKeys checks that keys containing "." survive koanf, which splits
// keys on its delimiter.
func TestDottedKeys(t *testing.T) {
	dir, path := fixture(t)
	cfg, err := config.Parse([]byte(`
gateway: {url: "http://gw:9091"}
jobs:
  - name: j
    every: 1s
    collectors:
      - name: c
        plugin: plugins/textfile.wasm
        config: {metrics.path: "$.queue.depth", nested: {a.b.c: x}}
        mounts: {/etc/app.d: app.d, /v1.2/data: textfiles}
`), path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Jobs[0].Collectors[0]
	if got, want := string(c.Config), `{"metrics.path":"$.queue.depth","nested":{"a.b.c":"x"}}`; got != want {
		t.Errorf("Config = %s, want %s", got, want)
	}
	want := map[string]string{"/etc/app.d": filepath.Join(dir, "app.d"), "/v1.2/data": filepath.Join(dir, "textfiles")}
	if !maps.Equal(c.Mounts, want) {
		t.Errorf("Mounts = %v, want %v", c.Mounts, want)
	}
}

func TestLoad(t *testing.T) {
	dir, path := fixture(t)
	data := `
gateway:
  url: http://gw:9091
  bearer_token_file: secrets/token
jobs:
  - {name: j, every: 1m, collectors: [{name: c, plugin: plugins/textfile.wasm}]}
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	cfg, err := config.Load("schedules.yaml", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != path {
		t.Errorf("Path = %q, want %q", cfg.Path, path)
	}
	if got := cfg.Gateway.BearerToken.Reveal(); got != "token-from-file" {
		t.Errorf("bearer token = %q", got)
	}

	_, err = config.Load(filepath.Join(dir, "missing.yaml"), testOptions())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), filepath.Join(dir, "missing.yaml")+": ") {
		t.Errorf("missing file: err = %v, want *config.Error naming the file", err)
	}
}

func TestInlineSecrets(t *testing.T) {
	_, path := fixture(t)
	cfg, err := config.Parse([]byte(`
gateway:
  url: http://gw:9091
  bearer_token: "${TOKEN}"
jobs:
  - {name: j, cron: "*/5 * * * *", collectors: [{name: c, plugin: plugins/textfile.wasm}]}
`), path, testOptions("TOKEN=inline-token"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Gateway.BearerToken.Reveal(); got != "inline-token" {
		t.Errorf("bearer token = %q", got)
	}
	if j := cfg.Jobs[0]; j.Cron != "*/5 * * * *" || j.Every != 0 {
		t.Errorf("schedule = %q %v", j.Cron, j.Every)
	}
}

func TestProblemsSortedByPath(t *testing.T) {
	_, path := fixture(t)
	var b strings.Builder
	b.WriteString("gateway: {url: http://gw:9091}\njobs:\n")
	for range 11 {
		b.WriteString("  - {name: j, every: 1s}\n")
	}
	_, err := config.Parse([]byte(b.String()), path, testOptions())
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *config.Error", err)
	}
	var paths []string
	for _, p := range ce.Problems {
		paths = append(paths, p.Path)
	}
	want := []string{"jobs[0].collectors", "jobs[1].collectors", "jobs[1].name", "jobs[2].collectors", "jobs[2].name"}
	if !reflect.DeepEqual(paths[:5], want) {
		t.Errorf("paths = %q, want prefix %q", paths, want)
	}
	if last := paths[len(paths)-1]; last != "jobs[10].name" {
		t.Errorf("last path = %q, want jobs[10].name", last)
	}
}

func TestSecretFormatting(t *testing.T) {
	s := config.Secret("hunter2")
	for _, got := range []string{
		s.String(), s.GoString(),
		sprintf("%v", s), sprintf("%+v", s), sprintf("%#v", s), sprintf("%s", s),
		sprintf("%q", s), sprintf("%x", s), sprintf("%X", s), sprintf("%10s", s),
	} {
		if got != "<secret>" {
			t.Errorf("got %q, want <secret>", got)
		}
	}
	if b, _ := json.Marshal(map[string]config.Secret{"p": s}); string(b) != `{"p":"\u003csecret\u003e"}` {
		t.Errorf("JSON = %s", b)
	}
	if b, _ := s.MarshalText(); string(b) != "<secret>" {
		t.Errorf("text = %s", b)
	}
	if s.Reveal() != "hunter2" {
		t.Errorf("Reveal = %q", s.Reveal())
	}
}
