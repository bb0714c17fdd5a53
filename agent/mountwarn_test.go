package agent

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/agent/config"
)

func TestMountWarnings(t *testing.T) {
	col := func(name, cfg string, mounts map[string]string) config.Collector {
		return config.Collector{Name: name, Plugin: "/p.wasm", Config: []byte(cfg), Mounts: mounts}
	}
	cfg := &config.Config{Jobs: []config.Job{{Name: "j", Collectors: []config.Collector{
		col("none", `{"proc": "/proc"}`, nil),
		col("other", `{"directory": "/textfile/sub", "files": ["/data/a.prom", "/etc/x"]}`, map[string]string{"/data": "/srv", "/textfile": "/var/lib"}),
		col("granted", `{"dir": "/data/x"}`, map[string]string{"/data": "/srv"}),
		col("file", `{"path": "/srv/app/stats.json", "script_file": "/etc/pushagent/check", "dir": "/var/lib/x.d"}`, nil),
		col("not paths", `{"path": "$.items[*]", "url": "http://x/metrics", "q": "/a b", "n": 3, "s": "/"}`, nil),
		{Name: "http", HTTP: &config.HTTPPlugin{}, Config: []byte(`{"dir": "/data"}`)},
	}}}}
	got := strings.Join(MountWarnings(cfg), "\n")
	want := strings.Join([]string{
		`job "j" collector "none": config.proc is "/proc", a path no mount grants (the collector has no mounts): the plugin cannot open it; add mounts: {/proc: /host/dir}`,
		`job "j" collector "other": config.files[1] is "/etc/x", a path no mount grants (its mounts grant only /data, /textfile): the plugin cannot open it; add mounts: {/etc: /host/dir}, the directory that holds it (a mount maps a directory)`,
		`job "j" collector "file": config.dir is "/var/lib/x.d", a path no mount grants (the collector has no mounts): the plugin cannot open it; add mounts: {/var/lib/x.d: /host/dir}`,
		`job "j" collector "file": config.path is "/srv/app/stats.json", a path no mount grants (the collector has no mounts): the plugin cannot open it; add mounts: {/srv/app: /host/dir}, the directory that holds it (a mount maps a directory)`,
		`job "j" collector "file": config.script_file is "/etc/pushagent/check", a path no mount grants (the collector has no mounts): the plugin cannot open it; add mounts: {/etc/pushagent: /host/dir}, the directory that holds it (a mount maps a directory)`,
	}, "\n")
	if got != want {
		t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
	}
}

// docs/config.md shows the warning as validate prints it.
func TestMountWarningAsDocumented(t *testing.T) {
	cfg := &config.Config{Jobs: []config.Job{{Name: "node", Collectors: []config.Collector{
		{Name: "procfs", Plugin: "/p.wasm", Config: []byte(`{"proc": "/proc"}`)},
	}}}}
	w := MountWarnings(cfg)
	doc, err := os.ReadFile(filepath.Join("..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 1 || !strings.Contains(string(doc), "  warning: "+w[0]+"\n") {
		t.Errorf("docs/config.md does not show the warning %q", w)
	}
}

// validate says what a /proc grant exposes, as docs/config.md shows it.
func TestMountNoteForProcAsDocumented(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("procfs is Linux's")
	}
	cfg := &config.Config{Jobs: []config.Job{{Name: "node", Collectors: []config.Collector{
		{Name: "procfs", Plugin: "/p.wasm", Mounts: map[string]string{"/host/proc": "/proc", "/data": t.TempDir()}},
	}}}}
	n := MountNotes(cfg)
	doc, err := os.ReadFile(filepath.Join("..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(n) != 1 || !strings.Contains(string(doc), "  note: "+n[0]+"\n") {
		t.Errorf("notes %q: want one, for /host/proc, as docs/config.md shows it", n)
	}
}
