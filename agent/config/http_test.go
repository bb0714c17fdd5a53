package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/agent/config"
)

func TestHTTPGrantsAndHTTPPlugins(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.wasm"), []byte("\x00asm"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := `
gateway: {url: "http://127.0.0.1:9091"}
jobs:
  - name: j
    every: 10s
    collectors:
      - name: wasm
        plugin: p.wasm
        allow_hosts: ["127.0.0.1:8080", "*.Example.com"]
        ca_file: ca.pem
        max_response: 64KiB
      - name: native
        http:
          url: http://127.0.0.1:7070/collect
          headers: {X-Api-Key: "${KEY}"}
          bearer_token: tok-123
        timeout: 2s
`
	cfg, err := config.Parse([]byte(yaml), filepath.Join(dir, "s.yaml"), config.Options{
		Environ: func() []string { return []string{"KEY=hdr-secret-456"} },
	})
	if err != nil {
		t.Fatal(err)
	}
	w, h := cfg.Jobs[0].Collectors[0], cfg.Jobs[0].Collectors[1]
	if !slices.Equal(w.AllowHosts, []string{"127.0.0.1:8080", "*.example.com"}) || w.CAFile != filepath.Join(dir, "ca.pem") || w.MaxResponse != 64<<10 {
		t.Errorf("wasm collector grant = %v %q %d", w.AllowHosts, w.CAFile, w.MaxResponse)
	}
	if cfg.Jobs[0].Collectors[0].HTTP != nil || h.HTTP == nil || h.Plugin != "" {
		t.Fatalf("plugin kinds mixed up: %+v", h)
	}
	if h.HTTP.URL != "http://127.0.0.1:7070/collect" || h.HTTP.Headers["X-Api-Key"].Reveal() != "hdr-secret-456" || h.HTTP.BearerToken.Reveal() != "tok-123" {
		t.Errorf("http plugin = %+v", h.HTTP)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, cfg)
		if strings.Contains(out, "hdr-secret-456") || strings.Contains(out, "tok-123") {
			t.Errorf("%s of the config shows a secret: %s", verb, out)
		}
	}
}

func TestReplicatedJobWithATemplatedGroupingIsValid(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.wasm"), []byte("\x00asm"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, yaml := range []string{
		// From the defaults...
		"gateway: {url: http://gw:9091}\ndefaults: {grouping: {instance: \"${HOSTNAME}\"}}\njobs: [{name: j, every: 1s, replicated: true, grouping: {zone: a}, collectors: [{name: c, plugin: p.wasm}]}]\n",
		// ...or the job itself.
		"gateway: {url: http://gw:9091}\njobs: [{name: j, every: 1s, replicated: true, grouping: {pod: \"${POD_NAME:-x}\"}, collectors: [{name: c, plugin: p.wasm}]}]\n",
	} {
		cfg, err := config.Parse([]byte(yaml), filepath.Join(dir, "s.yaml"), config.Options{
			Environ:  func() []string { return nil },
			Hostname: func() (string, error) { return "h1", nil },
		})
		if err != nil {
			t.Fatalf("%s: %v", yaml, err)
		}
		if !cfg.Jobs[0].Replicated {
			t.Error("replicated not set")
		}
	}
}
