package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The packaged config is the bundled one with every relative path made
// absolute for where the packages install things, and its opening
// comment no longer says the paths are relative. (The release test loads
// it with the packaged agent, in Debian.)
func TestPackagedConfig(t *testing.T) {
	b, err := release{src: filepath.Join("..", "..")}.packagedConfig()
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if strings.Contains(text, "Paths are relative") || !strings.HasPrefix(text, "# Installed by the pushagent package as /etc/pushagent/schedules.yaml") {
		t.Errorf("the packaged config's opening comment:\n%s", text[:min(len(text), 800)])
	}
	var cfg struct {
		Jobs []struct {
			Collectors []struct {
				Plugin string
				Mounts map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("the packaged config is not YAML: %v\n%s", err, text)
	}
	n := 0
	for _, j := range cfg.Jobs {
		for _, c := range j.Collectors {
			n++
			if !strings.HasPrefix(c.Plugin, pluginDir+"/") {
				t.Errorf("plugin %s is not in %s", c.Plugin, pluginDir)
			}
			for _, host := range c.Mounts {
				if !filepath.IsAbs(host) {
					t.Errorf("mount %s is relative", host)
				}
			}
		}
	}
	if n == 0 {
		t.Error("the packaged config has no collectors")
	}
}

// A relative path the packages do not install fails the release, naming
// the file, line and path, instead of shipping a config that cannot load.
func TestPackagedConfigUnknownPath(t *testing.T) {
	dir := t.TempDir()
	y := "jobs:\n  - name: j\n    collectors:\n      - {name: c, plugin: mine/custom.wasm}\n"
	if err := os.WriteFile(filepath.Join(dir, "schedules.yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := release{src: dir}.packagedConfig()
	if err == nil || !strings.Contains(err.Error(), `schedules.yaml:4: plugin "mine/custom.wasm" is relative`) {
		t.Errorf("err = %v", err)
	}
}

// Package versions from the Makefile's VERSION: a build after a tag
// (1.2.0+3.gabc1234) must sort after the tag's own package, so it is
// semver build metadata (+), not a pre-release (~ in a .deb), and a
// checkout without tags is a pre-release of 0.0.0.
func TestPackageVersions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bin := write("pushagent", "not really an agent")
	plugin := write("textfile.wasm", "\x00asm\x01\x00\x00\x00")
	for version, want := range map[string][2]string{
		"1.2.0":            {"pushagent_1.2.0_amd64.deb", "pushagent-1.2.0-1.x86_64.rpm"},
		"1.2.0+3.gabc1234": {"pushagent_1.2.0+3.gabc1234_amd64.deb", "pushagent-1.2.0+3.gabc1234-1.x86_64.rpm"},
		"0.0.0-abc1234":    {"pushagent_0.0.0~abc1234_amd64.deb", "pushagent-0.0.0~abc1234-1.x86_64.rpm"},
	} {
		r := release{version: version, src: filepath.Join("..", ".."), plugins: []string{plugin}, out: t.TempDir()}
		for i, format := range []string{"deb", "rpm"} {
			name, err := r.pkg(format, "amd64", bin)
			if err != nil {
				t.Fatalf("%s %s: %v", version, format, err)
			}
			if name != want[i] {
				t.Errorf("version %s: %s named %s, want %s", version, format, name, want[i])
			}
		}
	}
}
