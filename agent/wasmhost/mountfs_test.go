package wasmhost

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A procfs met by a mount, at its root or below it, shows its system-wide
// files and none of the per-process entries, the agent's above all: not by
// name, not through a link (self, thread-self), not in a listing.
func TestMountFSHidesProcesses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("procfs is Linux's")
	}
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct{ host, prefix string }{
		{"/proc", ""},  // the grant of the bundled config
		{"/", "proc/"}, // a procfs found below the mount
	} {
		m, err := newMountFS(tc.host)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		for _, name := range []string{"stat", "meminfo", "loadavg", "net/dev", "mounts", "sys/kernel/ostype"} {
			if _, err := fs.ReadFile(m, tc.prefix+name); err != nil {
				t.Errorf("mount of %s: reading system-wide %s: %v", tc.host, name, err)
			}
		}
		for _, name := range []string{
			"self/environ", "self/mem", "self/maps", "self", "thread-self/environ",
			pid + "/environ", pid + "/mem", "1/environ", pid, "kcore",
		} {
			if !fs.ValidPath(tc.prefix + name) {
				continue
			}
			_, err := m.Open(tc.prefix + name)
			if !errors.Is(err, syscall.ENOENT) {
				t.Errorf("mount of %s: opening %s: err = %v, want ENOENT (hidden)", tc.host, name, err)
			}
		}
		dir := strings.TrimSuffix(tc.prefix, "/")
		if dir == "" {
			dir = "."
		}
		entries, err := fs.ReadDir(m, dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			if procHidden(e.Name()) {
				t.Errorf("mount of %s: listing %s shows %s", tc.host, dir, e.Name())
			}
			names = append(names, e.Name())
		}
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " meminfo ") {
			t.Errorf("mount of %s: listing %s lacks meminfo: %v", tc.host, dir, names)
		}
	}
}

// A host directory inside a procfs that belongs to a process cannot be
// mounted at all; a system-wide one can.
func TestMountFSRefusesProcessDirectory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("procfs is Linux's")
	}
	for _, dir := range []string{"/proc/self", "/proc/thread-self", "/proc/1", "/proc/self/net", "/proc/net"} {
		if m, err := newMountFS(dir); err == nil {
			m.Close()
			t.Errorf("mount of %s: granted", dir)
		} else if !strings.Contains(err.Error(), "per-process entries are never granted") {
			t.Errorf("mount of %s: err = %v", dir, err)
		}
	}
	m, err := newMountFS("/proc/sys")
	if err != nil {
		t.Fatalf("mount of /proc/sys: %v", err)
	}
	defer m.Close()
	if _, err := fs.ReadFile(m, "kernel/ostype"); err != nil {
		t.Error(err)
	}
}

// Outside procfs, links keep working inside the mount and stay refused out
// of it, as with os.Root alone.
func TestMountFSLinks(t *testing.T) {
	top := t.TempDir()
	root := filepath.Join(top, "mnt")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(top, "secret"), []byte("s"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(root, "sub", "f"), []byte("in"), 0o644))
	must(os.Symlink("sub/f", filepath.Join(root, "rel")))
	must(os.Symlink("sub", filepath.Join(root, "dirlink")))
	must(os.Symlink("../rel", filepath.Join(root, "sub", "back")))
	must(os.Symlink("../secret", filepath.Join(root, "out")))
	must(os.Symlink(filepath.Join(top, "secret"), filepath.Join(root, "abs")))
	must(os.Symlink("loop", filepath.Join(root, "loop")))
	m, err := newMountFS(root)
	must(err)
	defer m.Close()
	for _, name := range []string{"rel", "dirlink/f", "sub/back", "dirlink/back"} {
		if b, err := fs.ReadFile(m, name); err != nil || string(b) != "in" {
			t.Errorf("%s: %q, %v", name, b, err)
		}
	}
	for _, name := range []string{"out", "abs", "loop", "dirlink/../out"} {
		if b, err := fs.ReadFile(m, name); err == nil {
			t.Errorf("%s: read %q through a link out of the mount", name, b)
		}
	}
}

func TestDescribeMount(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("procfs is Linux's")
	}
	for dir, want := range map[string]string{
		"/proc":        "a procfs: the plugin reads its system-wide files",
		"/proc/sys":    "inside a procfs",
		"/proc/self":   "a process's directory in a procfs",
		"/sys":         "a sysfs",
		"/":            "holding a procfs at proc",
		t.TempDir():    "",
		"/nonexisting": "",
	} {
		got := DescribeMount(dir)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("DescribeMount(%s) = %q, want %q", dir, got, want)
		}
	}
}
