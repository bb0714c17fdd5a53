//go:build release

package releasetest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/internal/testenv"
)

// The platforms `make release` builds, and what each tarball holds
// besides the plugins (under plugins/).
var (
	platforms   = []string{"linux-amd64", "linux-arm64", "darwin-arm64", "darwin-amd64"}
	tarballHas  = []string{"pushagent", "schedules.yaml", "LICENSE", "README.md", "examples/textfile/backup.prom"}
	packageArch = []string{"amd64", "arm64"}
)

func releaseDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("RELEASE_DIR")
	if dir == "" {
		t.Fatal("releasetest: RELEASE_DIR is unset: run `make release-test`, which builds the release and sets it")
	}
	return dir
}

// TestReleaseFiles: every platform has its tarball, every Linux one its
// .deb and .rpm, SHA256SUMS lists each file once with its real digest, and
// each tarball holds the agent for its platform, every first-party plugin,
// the bundled config, LICENSE and README.
func TestReleaseFiles(t *testing.T) {
	dir := releaseDir(t)
	plugins, err := filepath.Glob(filepath.Join("..", "..", "plugins", "*", "main.go"))
	if err != nil || len(plugins) == 0 {
		t.Fatalf("no first-party plugins found: %v", err)
	}

	sums := map[string]string{}
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("SHA256SUMS: line %q is not `sha256sum` output", sc.Text())
		}
		sums[name] = sum
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.Name() != "SHA256SUMS" {
			files = append(files, e.Name())
		}
	}
	if len(sums) != len(files) {
		t.Errorf("SHA256SUMS lists %d files, %s holds %d: %v", len(sums), dir, len(files), files)
	}
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		if got := hex.EncodeToString(h[:]); sums[name] != got {
			t.Errorf("SHA256SUMS: %s is %q, the file's digest is %s", name, sums[name], got)
		}
	}

	for _, p := range platforms {
		matches, _ := filepath.Glob(filepath.Join(dir, "pushagent-*."+p+".tar.gz"))
		if len(matches) != 1 {
			t.Errorf("%s: want one pushagent-VERSION.%s.tar.gz, found %v", dir, p, matches)
			continue
		}
		got := tarball(t, matches[0])
		want := slices.Clone(tarballHas)
		for _, p := range plugins {
			want = append(want, "plugins/"+filepath.Base(filepath.Dir(p))+".wasm")
		}
		for _, w := range want {
			if _, ok := got[w]; !ok {
				t.Errorf("%s has no %s (it has %v)", filepath.Base(matches[0]), w, slices.Sorted(mapKeys(got)))
			}
		}
		// The agent is built for the tarball's platform.
		goos, goarch, _ := strings.Cut(p, "-")
		if bin := got["pushagent"]; len(bin) > 0 && !isExecutableFor(bin, goos, goarch) {
			t.Errorf("%s: pushagent is not a %s/%s executable", filepath.Base(matches[0]), goos, goarch)
		}
	}
	for _, arch := range packageArch {
		for _, pattern := range []string{"pushagent_*_" + arch + ".deb", "pushagent-*." + map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch] + ".rpm"} {
			if m, _ := filepath.Glob(filepath.Join(dir, pattern)); len(m) != 1 {
				t.Errorf("%s: want one %s, found %v", dir, pattern, m)
			}
		}
	}
}

// TestTarballConfigLoads unpacks the linux-amd64 tarball and validates
// its schedules.yaml with its own agent, from the unpacked directory, as
// the README's install section says.
func TestTarballConfigLoads(t *testing.T) {
	dir := releaseDir(t)
	matches, _ := filepath.Glob(filepath.Join(dir, "pushagent-*.linux-amd64.tar.gz"))
	if len(matches) != 1 {
		t.Fatalf("no linux-amd64 tarball in %s", dir)
	}
	out := t.TempDir()
	root := ""
	for name, data := range tarball(t, matches[0]) {
		p := filepath.Join(out, "x", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if name == "pushagent" {
			mode = 0o755
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		root = filepath.Join(out, "x")
	}
	cmd := exec.Command("./pushagent", "validate", "--config", "schedules.yaml", "--cache-dir", filepath.Join(out, "cache"))
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "OK") {
		t.Errorf("pushagent validate in the unpacked tarball: %v\n%s", err, b)
	}
}

// tarball returns the regular files of a release tarball by their path
// below its one top directory, which must be named as the file is.
func tarball(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	top := strings.TrimSuffix(filepath.Base(path), ".tar.gz") + "/"
	out := map[string][]byte{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rel, ok := strings.CutPrefix(h.Name, top)
		if !ok {
			t.Errorf("%s: %s is outside %s", path, h.Name, top)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[rel] = b
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// isExecutableFor tells an ELF (Linux) or Mach-O (macOS) executable for
// the architecture from its header.
func isExecutableFor(b []byte, goos, goarch string) bool {
	if len(b) < 20 {
		return false
	}
	switch goos {
	case "linux":
		// ELF: e_machine at 18, little-endian: 0x3e x86-64, 0xb7 AArch64.
		machine := map[string]byte{"amd64": 0x3e, "arm64": 0xb7}[goarch]
		return bytes.HasPrefix(b, []byte("\x7fELF")) && b[18] == machine
	case "darwin":
		// Mach-O 64-bit, little-endian: magic 0xfeedfacf, then cputype
		// 0x01000007 (x86-64) or 0x0100000c (arm64).
		cpu := map[string]byte{"amd64": 0x07, "arm64": 0x0c}[goarch]
		return bytes.HasPrefix(b, []byte{0xcf, 0xfa, 0xed, 0xfe}) && b[4] == cpu && b[7] == 0x01
	}
	return false
}

// container is a Debian container the .deb is installed into.
type container struct {
	argv []string
	name string
}

func (c *container) exec(args ...string) (string, error) {
	full := append(append(slices.Clone(c.argv[1:]), "exec", c.name), args...)
	out, err := exec.Command(c.argv[0], full...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (c *container) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// startDebian starts the Debian base image with `sleep infinity`; see
// startDebianCommand.
func startDebian(t *testing.T) *container {
	t.Helper()
	return startDebianCommand(t, nil, "sleep", "infinity")
}

// startDebianCommand runs command in the Debian base image
// (scripts/debian-base.sh) with the release directory mounted read-only
// at /release and, unless extra (more `podman run` flags) says otherwise,
// without network: installing the package needs none.
func startDebianCommand(t *testing.T, extra []string, command ...string) *container {
	t.Helper()
	testenv.RequireBinary(t, "podman")
	testenv.RequireBinary(t, "runc", "/usr/sbin/runc")
	argv := strings.Fields(os.Getenv("PODMAN"))
	image := os.Getenv("DEBIAN_BASE")
	if len(argv) == 0 || image == "" {
		t.Fatal("releasetest: PODMAN and DEBIAN_BASE are unset: run `make release-test`, which makes the image and sets them")
	}
	c := &container{argv: argv, name: fmt.Sprintf("pushagent-releasetest-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))}
	podman := func(args ...string) (string, error) {
		out, err := exec.Command(argv[0], append(slices.Clone(argv[1:]), args...)...).CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	_, _ = podman("rm", "-f", c.name)
	args := append([]string{"run", "-d", "--name", c.name, "-v", releaseDir(t) + ":/release:ro"}, strings.Fields(os.Getenv("PODMAN_RUN_FLAGS"))...)
	if !slices.Contains(extra, "--network") {
		args = append(args, "--network", "none")
	}
	args = append(append(append(args, extra...), image), command...)
	if _, err := podman(args...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := podman("rm", "-f", "-t", "0", c.name); err != nil {
			t.Log(err)
		}
	})
	return c
}

// TestDebInstalls installs the amd64 .deb into Debian as an operator does
// (dpkg -i) and checks what it promises: the files, the service user, a
// config that validates as that user, and a unit systemd accepts.
func TestDebInstalls(t *testing.T) {
	dir := releaseDir(t)
	debs, _ := filepath.Glob(filepath.Join(dir, "pushagent_*_amd64.deb"))
	if len(debs) != 1 {
		t.Fatalf("want one amd64 .deb in %s, found %v", dir, debs)
	}
	deb := "/release/" + filepath.Base(debs[0])
	c := startDebian(t)
	out := c.must(t, "dpkg", "-i", deb)
	t.Logf("dpkg -i:\n%s", out)

	t.Run("user", func(t *testing.T) {
		ent := strings.Split(strings.TrimSpace(c.must(t, "getent", "passwd", "pushagent")), ":")
		if len(ent) != 7 || ent[5] != "/var/lib/pushagent" || ent[6] != "/usr/sbin/nologin" {
			t.Errorf("pushagent user: %q, want home /var/lib/pushagent and shell /usr/sbin/nologin", ent)
		}
		var uid int
		if len(ent) == 7 {
			fmt.Sscan(ent[2], &uid)
		}
		if uid == 0 || uid >= 1000 {
			t.Errorf("pushagent user has uid %d, want a system user (1-999)", uid)
		}
	})

	t.Run("files", func(t *testing.T) {
		// owner:group mode type, as stat prints them.
		for path, want := range map[string]string{
			"/usr/bin/pushagent":                        "root:root 755 regular file",
			"/etc/pushagent/schedules.yaml":             "root:pushagent 640 regular file",
			"/usr/lib/systemd/system/pushagent.service": "root:root 644 regular file",
			"/usr/lib/pushagent/plugins/procfs.wasm":    "root:root 644 regular file",
			"/usr/lib/pushagent/plugins/textfile.wasm":  "root:root 644 regular file",
			"/usr/share/doc/pushagent/LICENSE":          "root:root 644 regular file",
			"/var/lib/pushagent":                        "pushagent:pushagent 750 directory",
			"/var/lib/pushagent/textfile":               "root:pushagent 755 directory",
		} {
			got, err := c.exec("stat", "-c", "%U:%G %a %F", path)
			if strings.TrimSpace(got) != want {
				t.Errorf("%s: %q (%v), want %q", path, strings.TrimSpace(got), err, want)
			}
		}
		plugins, _ := filepath.Glob(filepath.Join("..", "..", "plugins", "*", "main.go"))
		for _, p := range plugins {
			name := filepath.Base(filepath.Dir(p)) + ".wasm"
			if _, err := c.exec("test", "-s", "/usr/lib/pushagent/plugins/"+name); err != nil {
				t.Errorf("plugin %s not installed: %v", name, err)
			}
		}
		if conf := c.must(t, "dpkg-query", "-W", "-f=${Conffiles}", "pushagent"); !strings.Contains(conf, "/etc/pushagent/schedules.yaml") {
			t.Errorf("/etc/pushagent/schedules.yaml is not a conffile of the package (dpkg keeps an edited one on upgrade): %q", conf)
		}
		if v := c.must(t, "pushagent", "version"); !strings.Contains(v, "pushagent, version ") || strings.Contains(v, "version devel") {
			t.Errorf("the packaged agent does not carry the release's version:\n%s", v)
		}
	})

	t.Run("validate as the service user", func(t *testing.T) {
		out, err := c.exec("setpriv", "--reuid=pushagent", "--regid=pushagent", "--init-groups",
			"env", "PUSHAGENT_CACHE_DIR=/var/lib/pushagent/cache",
			"pushagent", "validate", "--config", "/etc/pushagent/schedules.yaml")
		if err != nil || !strings.Contains(out, "/etc/pushagent/schedules.yaml: OK") {
			t.Errorf("pushagent validate --config /etc/pushagent/schedules.yaml as user pushagent: %v\n%s", err, out)
		}
	})

	t.Run("systemd-analyze verify", func(t *testing.T) {
		if _, err := c.exec("test", "-x", "/usr/bin/systemd-analyze"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the Debian base image has no systemd-analyze (scripts/debian-base.sh includes systemd): %v", err)
			}
			t.Skip("no systemd-analyze in the Debian base image")
		}
		out, err := c.exec("systemd-analyze", "verify", "/usr/lib/systemd/system/pushagent.service")
		if err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify pushagent.service: %v\n%s", err, out)
		}
		sec := c.must(t, "systemd-analyze", "security", "--offline=yes", "--no-pager", "/usr/lib/systemd/system/pushagent.service")
		t.Logf("systemd-analyze security:\n%s", lastLines(sec, 3))
	})
}

// TestDebServiceRuns boots systemd in a Debian container, installs the
// amd64 .deb and starts pushagent.service as an operator would, with the
// gateway's URL in /etc/default/pushagent: both jobs of the packaged
// config push to a real Pushgateway, so the plugins compile (to native
// code, which needs memory that becomes executable) and run (the procfs
// plugin reads /proc) under the unit's hardening, and the process is
// sandboxed as the unit says. The container gets CAP_SYS_ADMIN so that systemd can set up the
// unit's mount namespace (without it systemd skips ProtectSystem in a
// container), and the host's network, where the gateway listens.
func TestDebServiceRuns(t *testing.T) {
	dir := releaseDir(t)
	debs, _ := filepath.Glob(filepath.Join(dir, "pushagent_*_amd64.deb"))
	if len(debs) != 1 {
		t.Fatalf("want one amd64 .deb in %s, found %v", dir, debs)
	}
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	c := startDebianCommand(t, []string{"--network", "host", "--systemd", "always", "--cap-add", "SYS_ADMIN"}, "/sbin/init")
	testenv.Eventually(t, 60*time.Second, "systemd in the container is up", func() bool {
		out, _ := c.exec("systemctl", "is-system-running")
		return strings.TrimSpace(out) == "running" || strings.TrimSpace(out) == "degraded"
	})
	c.must(t, "dpkg", "-i", "/release/"+filepath.Base(debs[0]))
	listen := testenv.FreeAddr(t)
	c.must(t, "sh", "-c", fmt.Sprintf("printf 'PUSHGATEWAY_URL=%s\\nPUSHAGENT_ARGS=\"--listen %s\"\\n' >/etc/default/pushagent", gw.URL, listen))
	c.must(t, "systemctl", "start", "pushagent")
	defer func() {
		if t.Failed() {
			out, _ := c.exec("journalctl", "-u", "pushagent", "--no-pager")
			t.Logf("journal of pushagent.service:\n%s", out)
		}
	}()
	instance := strings.TrimSpace(c.must(t, "hostname"))
	testenv.Eventually(t, 90*time.Second, "pushes of jobs node and textfile from the service", func() bool {
		m := gw.Metrics(t)
		return strings.Contains(m, `push_time_seconds{instance="`+instance+`",job="node"}`) &&
			strings.Contains(m, `push_time_seconds{instance="`+instance+`",job="textfile"}`)
	})
	if out, err := c.exec("pushagent", "healthcheck", "--url", "http://"+listen+"/healthz"); err != nil {
		t.Errorf("healthcheck of the service's listener: %v\n%s", err, out)
	}

	// wazero falls back to its interpreter, silently and many times
	// slower, where it may not map memory executable (as under
	// MemoryDenyWriteExecute); only its compiler fills the cache.
	if n := strings.TrimSpace(c.must(t, "sh", "-c", "find /var/lib/pushagent/cache -type f | wc -l")); n == "0" {
		t.Error("the compilation cache in /var/lib/pushagent/cache is empty: the plugins were not compiled (wazero's interpreter ran them: is memory that becomes executable forbidden by the unit?)")
	}

	pid := strings.TrimSpace(c.must(t, "systemctl", "show", "-p", "MainPID", "--value", "pushagent"))
	status := c.must(t, "cat", "/proc/"+pid+"/status")
	for _, want := range []string{"NoNewPrivs:\t1", "Seccomp:\t2", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000"} {
		if !strings.Contains(status, want+"\n") {
			t.Errorf("the service's process has no %q in /proc/%s/status:\n%s", want, pid, status)
		}
	}
	if user := strings.TrimSpace(c.must(t, "ps", "-o", "user=", "-p", pid)); user != "pushagent" {
		t.Errorf("the service runs as %q, want pushagent", user)
	}
	// Its view of the file system: read-only but its state directory.
	mounts := map[string]string{}
	for line := range strings.Lines(c.must(t, "cat", "/proc/"+pid+"/mountinfo")) {
		if f := strings.Fields(line); len(f) > 5 {
			mounts[f[4]] = f[5] // the last mount of a point is the one seen
		}
	}
	for point, want := range map[string]string{"/": "ro", "/var/lib/pushagent": "rw"} {
		if opts := strings.Split(mounts[point], ","); !slices.Contains(opts, want) {
			t.Errorf("the service sees %s mounted %q, want %s", point, mounts[point], want)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
