package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// debianPackages maps the programs tests look for to the Debian package
// that provides them, so a skip or failure says exactly what to install.
var debianPackages = map[string]string{
	"prometheus-pushgateway": "prometheus-pushgateway",
	"prometheus":             "prometheus",
	"promtool":               "prometheus",
	"wat2wasm":               "wabt",
	"make":                   "make",
	"curl":                   "curl",
	"clang":                  "clang",
	"wasm-ld":                "lld",
	"rustc":                  "rustc",
	"/usr/bin/rustc":         "rustc",
	"chromium":               "chromium",
	"podman":                 "podman",
	"runc":                   "runc",
}

// RequireBinary returns the path of the first of names that exists: a name
// containing a slash is taken as a path, any other is looked up on PATH.
//
// When none exists the test is skipped, unless the environment has
// CI=true: then it fails, because a CI run that silently skips its
// end-to-end tests proves nothing.
func RequireBinary(t testing.TB, names ...string) string {
	t.Helper()
	for _, name := range names {
		if path, err := lookBinary(name); err == nil {
			return path
		}
	}
	msg := missingMessage(names)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true, so this is a failure, not a skip)", msg)
	} else {
		t.Skipf("%s", msg)
	}
	return ""
}

func lookBinary(name string) (string, error) {
	if strings.ContainsRune(name, '/') {
		st, err := os.Stat(name)
		if err != nil {
			return "", err
		}
		if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
		}
		return name, nil
	}
	return exec.LookPath(name)
}

func missingMessage(names []string) string {
	var pkgs []string
	seen := map[string]bool{}
	for _, name := range names {
		base := name[strings.LastIndexByte(name, '/')+1:]
		if pkg, ok := debianPackages[base]; ok && !seen[pkg] {
			seen[pkg] = true
			pkgs = append(pkgs, pkg)
		}
	}
	install := "install the Debian package that provides it"
	if len(pkgs) > 0 {
		install = "install the Debian package " + strings.Join(pkgs, " or ") +
			" (apt-get install -y " + strings.Join(pkgs, " ") + ")"
	}
	return "testenv: none of " + strings.Join(names, ", ") + " found on PATH; " +
		install + ", or run scripts/setup-debian.sh, which installs everything the tests need"
}

// RequireFile is RequireBinary for the parts of a toolchain that are not
// programs (a sysroot, a standard library): pattern is a filepath.Glob, pkg
// the Debian package that installs it.
func RequireFile(t testing.TB, pkg, pattern string) {
	t.Helper()
	if m, _ := filepath.Glob(pattern); len(m) > 0 {
		return
	}
	msg := fmt.Sprintf("%s not found; install the Debian package %s (apt-get install -y %s), or run scripts/setup-debian.sh, which installs everything the tests need",
		pattern, pkg, pkg)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true, so this is a failure, not a skip)", msg)
	}
	t.Skip(msg)
}
