package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/internal/testenv"
)

// TestPluginSDKWalkthrough follows docs/plugin-sdk.md's first section
// literally: its command blocks, marked "docs-test: walkthrough", run in
// order in one shell, in an empty directory outside the repository, with
// the pushagent binary of this tree on PATH and PUSHGATEWAY_URL naming a
// real Pushgateway. The Go commands run offline (GOPROXY=off): a new plugin
// must build with what pushagent plugin new wrote and nothing else.
func TestPluginSDKWalkthrough(t *testing.T) {
	bash := testenv.RequireBinary(t, "bash")
	gobin := testenv.RequireBinary(t, "go")
	testenv.RequireBinary(t, "make")
	testenv.RequireBinary(t, "curl")
	agent := testenv.BuildGo(t, "pushagent", "./cmd/pushagent")
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})

	doc := readDoc(t, "plugin-sdk.md")
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	blocks := fencedBlocks(t, doc)
	steps := 0
	for _, b := range blocks {
		if b.marker != "walkthrough" {
			continue
		}
		if b.lang != "sh" {
			t.Fatalf("plugin-sdk.md:%d: a walkthrough block is %q, not sh", b.line, b.lang)
		}
		script.WriteString(b.text)
		steps++
	}
	if steps < 5 {
		t.Fatalf("plugin-sdk.md has %d walkthrough blocks; the walkthrough scaffolds, tests, builds, runs and pushes", steps)
	}

	work := t.TempDir()
	cmd := exec.Command(bash, "-c", script.String())
	cmd.Dir = work
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Dir(agent)+string(os.PathListSeparator)+filepath.Dir(gobin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PUSHGATEWAY_URL="+gw.URL,
		"PUSHAGENT_CACHE_DIR="+t.TempDir(),
		"GOPROXY=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s", err, out)
	}
	// The doc says what the last command prints.
	const pushed = `diskfree_files{instance="",job="diskfree"} 1`
	if !strings.Contains(string(out), pushed+"\n") || !strings.Contains(doc, "`"+pushed+"`") {
		t.Errorf("the walkthrough's output lacks %s, which the doc promises:\n%s", pushed, out)
	}
	if m := gw.Metrics(t); !strings.Contains(m, `diskfree_file_size_bytes{file="hello.txt",instance="",job="diskfree"} 6`) {
		t.Errorf("the gateway lacks the plugin's metrics:\n%s", m)
	}

	// The Go the doc shows is the Go the scaffold writes.
	shown := 0
	for _, b := range blocks {
		name, ok := strings.CutPrefix(b.marker, "scaffold ")
		if !ok {
			continue
		}
		shown++
		got, err := os.ReadFile(filepath.Join(work, "diskfree", name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != b.text {
			t.Errorf("plugin-sdk.md:%d shows a %s that pushagent plugin new does not write; it writes:\n%s", b.line, name, got)
		}
	}
	if shown != 2 {
		t.Errorf("plugin-sdk.md shows %d scaffold files; want main.go and main_test.go", shown)
	}
}
