//go:build image

package imagetest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
)

// stateDir is the image's home of remote_write buffers: a VOLUME the
// agent's user owns (README, container section).
const stateDir = "/var/lib/pushagent"

// TestImageStateVolume: /var/lib/pushagent is a VOLUME, and in the image
// it is a directory the agent's user owns, so a buffer can be made in it
// under --read-only.
func TestImageStateVolume(t *testing.T) {
	p := newPodman(t)
	img := p.inspectImage(t)
	if _, ok := img.Config.Volumes[stateDir]; !ok {
		t.Errorf("image VOLUME = %v, want %s (the remote_write buffers' home)", img.Config.Volumes, stateDir)
	}
	fi, err := os.Stat(filepath.Join(p.root(t), stateDir))
	if err != nil {
		t.Fatalf("image has no %s: %v", stateDir, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || fmt.Sprint(st.Uid) != nonRoot || fmt.Sprint(st.Gid) != nonRoot {
		t.Errorf("%s in the image: dir %v, owner %d:%d; want a directory owned by %s:%s", stateDir, fi.IsDir(), st.Uid, st.Gid, nonRoot, nonRoot)
	}
}

// TestImageRemoteWriteAcrossRestart runs the image read-only with a
// remote_write output to a real VictoriaMetrics, its buffer in the state
// volume. The receiver goes away, the agent buffers what it collects and
// is stopped; then the receiver and the container start again (the same
// container, so the same volume): every run the agent logged as buffered,
// before and during the outage, reaches the receiver.
func TestImageRemoteWriteAcrossRestart(t *testing.T) {
	p := newPodman(t)
	vm := testenv.StartVictoriaMetrics(t)
	cfg := filepath.Join(t.TempDir(), "schedules.yaml")
	y := "outputs:\n" +
		"  tsdb:\n" +
		"    remote_write:\n" +
		"      url: " + vm.WriteURL + "\n" +
		"      timeout: 2s\n" +
		"      buffer: {dir: " + stateDir + "/tsdb}\n" +
		"jobs:\n" +
		"  - name: rw\n" +
		"    every: 1s\n" +
		"    grouping: {instance: imagetest}\n" +
		"    collectors:\n" +
		"      - name: files\n" +
		"        plugin: plugins/textfile.wasm\n" +
		"        mounts: {/textfile: examples/textfile}\n" +
		"        config: {directory: /textfile}\n"
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	c := p.run(t, "-v", cfg+":"+configPath+":ro")
	const query = `count_over_time(backup_last_success_timestamp_seconds{job="rw",instance="imagetest"}[10m])`
	count := func() int {
		s := vm.Query(t, query)
		if len(s) != 1 {
			return 0
		}
		return int(s[0].Value)
	}
	// Runs the agent logged as written to the output (its buffer).
	buffered := func() int {
		n := 0
		for l := range strings.Lines(c.logs(t)) {
			if strings.Contains(l, "msg=buffered") && strings.Contains(l, "output=tsdb") {
				n++
			}
		}
		return n
	}
	testenv.Eventually(t, 30*time.Second, "delivery before the outage", func() bool { return count() >= 2 })

	vm.Stop()
	before := buffered()
	testenv.Eventually(t, 30*time.Second, "runs buffered during the outage", func() bool { return buffered() >= before+3 })
	p.must(t, "stop", "--time", "15", c.name)
	if st := c.inspect(t); st.State.ExitCode != 0 {
		t.Errorf("agent exited with %d after SIGTERM, want 0", st.State.ExitCode)
	}
	runs := buffered()

	vm.Restart()
	p.must(t, "start", c.name)
	testenv.Eventually(t, 60*time.Second, "the buffer delivered after the restart", func() bool { return count() >= runs })
	if got := count(); got > buffered()+1 {
		t.Errorf("the receiver holds %d samples, more than the %d runs logged: stored twice?", got, buffered())
	}
	for _, m := range c.inspect(t).Mounts {
		if m.Destination == stateDir && m.Type != "volume" {
			t.Errorf("%s is a %s mount, want the image's volume", stateDir, m.Type)
		}
	}
	t.Logf("%d runs buffered before the container's restart, all delivered after it", runs)
}

// TestImageUnreadableSecret: a secret root owns with mode 0600, mounted
// into the image, is refused with the uid to grant it to.
func TestImageUnreadableSecret(t *testing.T) {
	p := newPodman(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "password")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		t.Skip("the test makes a root-owned secret: run it as root (CI does)")
	}
	cfg := filepath.Join(dir, "schedules.yaml")
	y := "gateway:\n" +
		"  url: http://127.0.0.1:9091\n" +
		"  basic_auth: {username: u, password_file: /run/secrets/password}\n" +
		"jobs:\n" +
		"  - name: j\n" +
		"    every: 10s\n" +
		"    collectors:\n" +
		"      - {name: files, plugin: plugins/textfile.wasm, mounts: {/textfile: examples/textfile}, config: {directory: /textfile}}\n"
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"run", "--rm", "--network", "none", "--read-only", "--read-only-tmpfs=false"}, p.runFlags...)
	args = append(args, "-v", cfg+":"+configPath+":ro", "-v", secret+":/run/secrets/password:ro", p.image, "validate", "--config", configPath)
	out, err := p.output(args...)
	want := `gateway.basic_auth.password_file: cannot read "/run/secrets/password": permission denied; make it readable by the agent's user (uid 65532)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("validate with a root-owned 0600 secret: %v\n%s\nwant the error %q", err, out, want)
	}
}

// TestImageManifestList: `make image` makes one manifest list for amd64
// and arm64. The build machine's architecture carries the warm cache;
// the other ships the agent built for it and an empty cache (it compiles
// at start, as the README says), since a scratch stage without RUN cannot
// warm it.
func TestImageManifestList(t *testing.T) {
	p := newPodman(t)
	var list struct {
		Manifests []struct {
			Digest   string
			Platform struct{ Architecture, OS string }
		}
	}
	if err := json.Unmarshal([]byte(p.must(t, "manifest", "inspect", p.image)), &list); err != nil {
		t.Fatalf("%s is not a manifest list: %v", p.image, err)
	}
	arches := map[string]string{} // architecture → manifest digest
	for _, m := range list.Manifests {
		if m.Platform.OS != "linux" {
			t.Errorf("manifest %s is for %s", m.Digest, m.Platform.OS)
		}
		arches[m.Platform.Architecture] = m.Digest
	}
	if len(arches) != 2 || arches["amd64"] == "" || arches["arm64"] == "" {
		t.Fatalf("%s holds %v, want linux/amd64 and linux/arm64", p.image, arches)
	}
	for arch, digest := range arches {
		ref := p.image + "@" + digest
		id := strings.TrimSpace(p.must(t, "image", "inspect", "--format", "{{.Id}}", ref))
		root := strings.TrimSpace(p.must(t, "image", "mount", id))
		t.Cleanup(func() { _, _ = p.output("image", "unmount", id) })
		bin, err := os.ReadFile(filepath.Join(root, "usr", "local", "bin", "pushagent"))
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		// ELF e_machine, little-endian: 0x3e x86-64, 0xb7 AArch64.
		if machine := map[string]byte{"amd64": 0x3e, "arm64": 0xb7}[arch]; len(bin) < 20 || bin[18] != machine {
			t.Errorf("the %s image's agent is not an executable for %s", arch, arch)
		}
		cache := listFiles(t, filepath.Join(root, cacheDir))
		if warm := arch == runtime.GOARCH; warm != (len(cache) > 0) {
			t.Errorf("the %s image's %s holds %d files; want the warm cache only for the build machine's architecture (%s)", arch, cacheDir, len(cache), runtime.GOARCH)
		}
		if fi, err := os.Stat(filepath.Join(root, stateDir)); err != nil || !fi.IsDir() {
			t.Errorf("the %s image has no %s: %v", arch, stateDir, err)
		}
	}
}
