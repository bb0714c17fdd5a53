package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
)

// TestReloadThroughAnotherDirectory: a config file bind-mounted into a
// container (docker run -v ./schedules.yaml:/opt/pushagent/schedules.yaml)
// is edited through the host's directory, so no event reaches a watch of
// the directory the agent was given. A hard link in another directory is
// the same situation without a container: one inode, two directories.
// internal/imagetest checks the real bind mount.
func TestReloadThroughAnotherDirectory(t *testing.T) {
	agentBin := testenv.BuildGo(t, "pushagent", "./cmd/pushagent")
	dir := t.TempDir()
	hello := helloPlugin(t, dir)
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	hostDir, mountDir := filepath.Join(dir, "host"), filepath.Join(dir, "container")
	for _, d := range []string{hostDir, mountDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hostFile, mounted := filepath.Join(hostDir, "schedules.yaml"), filepath.Join(mountDir, "schedules.yaml")
	write := func(job string) {
		y := fmt.Sprintf("gateway: {url: %q}\ndefaults: {grouping: {instance: m}}\njobs:\n  - {name: %s, every: 1s, collectors: [{name: c, plugin: %s, config: 1}]}\n", gw.URL, job, hello)
		// In place, through the host's directory.
		if err := os.WriteFile(hostFile, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("before")
	if err := os.Link(hostFile, mounted); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, agentBin, nil, "run", "--config", mounted, "--cache-dir", "")
	hasJob := func(job string) func() bool {
		return func() bool { return strings.Contains(gw.Metrics(t), `job="`+job+`"`) }
	}
	testenv.Eventually(t, 20*time.Second, "job before pushed", hasJob("before"))
	write("after")
	testenv.Eventually(t, 10*time.Second, "job after added when the file changed through the other directory", hasJob("after"))
	a.stop(t)
}
