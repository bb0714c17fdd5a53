//go:build unix

package config_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pushagent/pushagent/agent/config"
)

// TestUnreadableSecretFile needs a user that permissions apply to: run
// as root (as CI is), it runs itself again as uid 65532, the container
// image's user, which is the case the message is for: a secret root owns
// with mode 0600, mounted into the image.
func TestUnreadableSecretFile(t *testing.T) {
	if os.Geteuid() == 0 {
		runAsNonRoot(t, 65532, "TestUnreadableSecretFile")
		return
	}
	dir, path := fixture(t)
	pw := filepath.Join(dir, "secrets", "password")
	if err := os.Chmod(pw, 0); err != nil {
		t.Fatal(err)
	}
	_, err := config.Parse([]byte("gateway: {url: http://gw:9091, basic_auth: {username: u, password_file: secrets/password}}\n"+job("    every: 1s\n", col)), path, testOptions())
	want := fmt.Sprintf(`%s:1: gateway.basic_auth.password_file: cannot read "%s": permission denied; make it readable by the agent's user (uid %d)`, path, pw, os.Geteuid())
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

// runAsNonRoot runs test of this test binary again as uid (and gid) and
// fails t if it fails. The binary is copied where that user may run it:
// go test's own directory is root's alone.
func runAsNonRoot(t *testing.T, uid int, test string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "config-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "config.test")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+test+"$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TMPDIR=" + os.TempDir()}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+test) {
		t.Errorf("%s as uid %d: %v\n%s", test, uid, err, out)
	}
}
