//go:build image

package imagetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
)

// repoRoot is the checkout, from this package's directory.
var repoRoot = filepath.Join("..", "..")

// podman runs podman as the Makefile says to on this machine.
type podman struct {
	argv     []string // the command and its global flags
	runFlags []string // what `podman run` needs here besides (ulimits)
	image    string
}

// newPodman reads what `make image-test` passes. Under CI=true a missing
// podman or runc fails the test (testenv.RequireBinary).
func newPodman(t *testing.T) *podman {
	t.Helper()
	testenv.RequireBinary(t, "podman")
	testenv.RequireBinary(t, "runc", "/usr/sbin/runc")
	p := &podman{
		argv:     strings.Fields(os.Getenv("PODMAN")),
		runFlags: strings.Fields(os.Getenv("PODMAN_RUN_FLAGS")),
		image:    os.Getenv("PUSHAGENT_IMAGE"),
	}
	if len(p.argv) == 0 || p.image == "" {
		t.Fatal("imagetest: PODMAN and PUSHAGENT_IMAGE are unset: run `make image-test`, which builds the image and sets them")
	}
	if _, err := p.output("image", "exists", p.image); err != nil {
		t.Fatalf("imagetest: image %s not built (run `make image-test`, which builds it first): %v", p.image, err)
	}
	return p
}

// output runs podman and returns its stdout; the error holds its stderr.
func (p *podman) output(args ...string) (string, error) {
	cmd := exec.Command(p.argv[0], append(p.argv[1:], args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func (p *podman) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := p.output(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// imageConfig is what the tests read of `podman image inspect`.
type imageConfig struct {
	Size   int64
	Config struct {
		User         string
		Env          []string
		Entrypoint   []string
		Cmd          []string
		WorkingDir   string
		Volumes      map[string]struct{}
		ExposedPorts map[string]struct{}
	}
	// Healthcheck is beside Config in podman's inspect output.
	Healthcheck *struct{ Test []string }
}

func (p *podman) inspectImage(t *testing.T) imageConfig {
	t.Helper()
	var cfgs []imageConfig
	if err := json.Unmarshal([]byte(p.must(t, "image", "inspect", p.image)), &cfgs); err != nil || len(cfgs) != 1 {
		t.Fatalf("imagetest: podman image inspect %s: %d results, %v", p.image, len(cfgs), err)
	}
	return cfgs[0]
}

// env returns the value the image's config gives a variable.
func (c imageConfig) env(name string) (string, bool) {
	for _, kv := range c.Config.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// root mounts the image's file system (read-only, unmounted when the test
// ends) and returns its path.
func (p *podman) root(t *testing.T) string {
	t.Helper()
	dir := strings.TrimSpace(p.must(t, "image", "mount", p.image))
	t.Cleanup(func() {
		if _, err := p.output("image", "unmount", p.image); err != nil {
			t.Log(err)
		}
	})
	return dir
}

// container is a running container of the image, removed (with its
// anonymous volumes) when the test ends.
type container struct {
	p    *podman
	name string
}

// run starts the image's ENTRYPOINT and CMD as users do, in the host's
// network namespace (the test's Pushgateway listens on 127.0.0.1), with a
// read-only root file system and nothing else writable: podman's
// --read-only would add tmpfs mounts on /tmp, /var/tmp and /run, which
// Docker's does not. extra are more `podman run` flags.
func (p *podman) run(t *testing.T, extra ...string) *container {
	t.Helper()
	// The CMD listens on :9465; in the host's network namespace that is
	// the host's port.
	if l, err := net.Listen("tcp", ":9465"); err != nil {
		t.Fatalf("imagetest: port 9465 is taken on this host, and the image's CMD listens there in the host's network: %v", err)
	} else {
		l.Close()
	}
	c := &container{p: p, name: fmt.Sprintf("pushagent-imagetest-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))}
	_, _ = p.output("rm", "-f", "-v", c.name) // a leftover of a killed run
	args := append([]string{"run", "-d", "--name", c.name, "--network", "host",
		"--read-only", "--read-only-tmpfs=false"}, p.runFlags...)
	args = append(append(args, extra...), p.image)
	p.must(t, args...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("container %s output:\n%s", c.name, c.logs(t))
		}
		if _, err := p.output("rm", "-f", "-v", c.name); err != nil {
			t.Log(err)
		}
	})
	return c
}

// logs is the container's output so far (the agent logs to stderr).
func (c *container) logs(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(c.p.argv[0], append(c.p.argv[1:], "logs", c.name)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("podman logs %s: %v\n%s", c.name, err, out)
	}
	return string(out)
}

// state is what the tests read of `podman inspect` of a container.
type state struct {
	State struct {
		Status    string
		Pid       int
		ExitCode  int
		StartedAt time.Time
	}
	HostConfig struct{ ReadonlyRootfs bool }
	Mounts     []struct {
		Type        string
		Source      string
		Destination string
		RW          bool
	}
}

func (c *container) inspect(t *testing.T) state {
	t.Helper()
	var s []state
	if err := json.Unmarshal([]byte(c.p.must(t, "container", "inspect", c.name)), &s); err != nil || len(s) != 1 {
		t.Fatalf("imagetest: podman inspect %s: %d results, %v", c.name, len(s), err)
	}
	return s[0]
}
