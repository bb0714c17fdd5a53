package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/pushagent/pushagent/internal/testenv"
)

// TestKubernetesExample validates the ConfigMap of
// examples/kubernetes/statefulset.yaml as each pod of the StatefulSet sees
// it (its pod name as the shard index) and checks that every sharded job
// runs on exactly one pod and the replicated one on all.
func TestKubernetesExample(t *testing.T) {
	agentBin := testenv.BuildGo(t, "pushagent", "./cmd/pushagent")
	wasm := []string{"GOOS=wasip1", "GOARCH=wasm"}
	reactor := []string{"-buildmode=c-shared"}
	scrape := testenv.BuildGoArgs(t, "scrape.wasm", "./plugins/scrape", reactor, wasm...)
	testenv.BuildGoArgs(t, "procfs.wasm", "./plugins/procfs", reactor, wasm...)

	raw, err := os.ReadFile(filepath.Join("..", "examples", "kubernetes", "statefulset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var config string
	replicas := 0
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
			Spec struct {
				Replicas int `yaml:"replicas"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		switch doc.Kind {
		case "ConfigMap":
			config = doc.Data["schedules.yaml"]
		case "StatefulSet":
			replicas = doc.Spec.Replicas
		}
	}
	if config == "" || replicas == 0 {
		t.Fatalf("statefulset.yaml: config %d bytes, %d replicas", len(config), replicas)
	}
	// validate checks that the buffer directory can be made and written
	// where it runs; the pod's volume at /var/lib/pushagent is not here.
	if !strings.Contains(config, "/var/lib/pushagent/") {
		t.Fatal("statefulset.yaml: no buffer under the volume at /var/lib/pushagent")
	}
	config = strings.ReplaceAll(config, "/var/lib/pushagent/", filepath.Join(t.TempDir(), "volume")+"/")
	path := filepath.Join(t.TempDir(), "schedules.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	owners := map[string][]int{}
	line := regexp.MustCompile(`(?m)^  job "([^"]+)": .*, runs on (this shard|every shard.*|shard \d+)$`)
	for pod := range replicas {
		cmd := exec.Command(agentBin, "validate", "--config", path)
		cmd.Env = append(os.Environ(), "POD_NAME=pushagent-"+strconv.Itoa(pod), "SHARD_COUNT="+strconv.Itoa(replicas), "PLUGINS_DIR="+filepath.Dir(scrape))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("validate as pushagent-%d: %v\n%s", pod, err, out)
		}
		if want := fmt.Sprintf("shard %d of %d: this agent runs", pod, replicas); !bytes.Contains(out, []byte(want)) {
			t.Errorf("validate as pushagent-%d does not say %q:\n%s", pod, want, out)
		}
		for _, m := range line.FindAllStringSubmatch(string(out), -1) {
			if m[2] != "this shard" && m[2][:5] != "every" {
				continue
			}
			owners[m[1]] = append(owners[m[1]], pod)
		}
	}
	if len(owners["pushagent-node"]) != replicas {
		t.Errorf("the replicated job runs on pods %v; want all %d", owners["pushagent-node"], replicas)
	}
	pods := map[int]bool{}
	for _, job := range []string{"exporter-a", "exporter-b", "exporter-c", "exporter-d"} {
		if len(owners[job]) != 1 {
			t.Errorf("%s runs on pods %v; want exactly one", job, owners[job])
			continue
		}
		pods[owners[job][0]] = true
	}
	if len(pods) < 2 {
		t.Errorf("the sharded jobs all run on pods %v; the example should spread them", pods)
	}
}
