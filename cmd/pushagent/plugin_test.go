package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/internal/testenv"
)

func TestPluginNewWritesAModule(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "disk-free")
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"plugin", "new", "--module", "example.org/x/disk-free", dir}, &stdout, &stderr); code != exitOK {
		t.Fatalf("code %d: %s", code, stderr.String())
	}
	for _, f := range []string{"main.go", "main_test.go", "Makefile", "schedules.yaml", "README.md", ".gitignore", "testdata/data/hello.txt", "pushagent-sdk/go.mod", "pushagent-sdk/sdk.go", "pushagent-sdk/httpcall/httpcall.go"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	gomod := read("go.mod")
	for _, want := range []string{"module example.org/x/disk-free\n", "go 1.", "replace github.com/pushagent/pushagent/sdk => ./pushagent-sdk\n"} {
		if !strings.Contains(gomod, want) {
			t.Errorf("go.mod lacks %q:\n%s", want, gomod)
		}
	}
	if mk := read("Makefile"); !strings.HasPrefix(strings.SplitN(mk, "\n$(NAME).wasm:", 2)[0], "# Builds") || !strings.Contains(mk, "NAME := disk-free\n") {
		t.Errorf("the Makefile's first target is not disk-free.wasm:\n%s", mk)
	}
	if m := read("main.go"); !strings.Contains(m, `"disk_free_file_size_bytes"`) {
		t.Errorf("main.go's metric names are not prefixed disk_free_:\n%s", m)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "pushagent-sdk", "*_test.go")); len(matches) > 0 {
		t.Errorf("the SDK copy carries tests: %v", matches)
	}
	if !strings.Contains(stdout.String(), "make test") {
		t.Errorf("stdout does not say what next:\n%s", stdout.String())
	}

	// The module tests natively offline: the SDK copy is all it needs.
	gobin := testenv.RequireBinary(t, "go")
	cmd := exec.Command(gobin, "test", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test in the new module: %v\n%s", err, b)
	}
}

func TestPluginNewRefuses(t *testing.T) {
	base := t.TempDir()
	full := filepath.Join(base, "full")
	if err := os.MkdirAll(full, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"plugin"}, exitUsage, "pushagent plugin new"},
		{[]string{"plugin", "-h"}, exitOK, "pushagent plugin new"},
		{[]string{"plugin", "new", "-h"}, exitOK, "-module"},
		{[]string{"plugin", "frob"}, exitUsage, `unknown subcommand "frob"`},
		{[]string{"plugin", "new"}, exitUsage, "want one directory"},
		{[]string{"plugin", "new", full}, exitUsage, "exists and is not empty"},
		{[]string{"plugin", "new", filepath.Join(base, "Disk Free")}, exitUsage, `the directory's name "Disk Free" is the plugin's name`},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		if code := realMain(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.err) {
			t.Errorf("pushagent %v: code %d, stderr %q; want code %d, stderr with %q", tc.args, code, stderr.String(), tc.code, tc.err)
		}
	}
}

// plugin run runs one plugin with only the grants its flags give, and
// prints its metrics or its failure with the reason.
func TestPluginRun(t *testing.T) {
	wat2wasm := testenv.RequireBinary(t, "wat2wasm")
	dir := t.TempDir()
	wat := func(name string) string {
		out := filepath.Join(dir, name+".wasm")
		if b, err := exec.Command(wat2wasm, filepath.Join("..", "..", "agent", "wasmhost", "testdata", name+".wat"), "-o", out).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm: %v\n%s", err, b)
		}
		return out
	}
	hello, bad := wat("hello"), wat("misbehave")
	cases := []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"--config", "42", hello}, exitOK, `wat_hello{config="42"} 1`, ""},
		{[]string{"--config", `"exit"`, bad}, exitFailed, "", "exited with code 3"},
		{[]string{"--config", `"exit"`, "--memory-limit", "1KiB", bad}, exitUsage, "", "memory_limit"},
		{[]string{"--mount", "/data", hello}, exitUsage, "", `--mount: "/data" is not GUEST=HOST`},
		{[]string{"--mount", "/data=" + filepath.Join(dir, "missing"), hello}, exitUsage, "", "missing"},
		{[]string{"--config", "{oops", hello}, exitUsage, "", "--config"},
		{[]string{hello, "--config", "{}"}, exitUsage, "", "flags go before it"},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		args := append([]string{"plugin", "run", "--cache-dir", ""}, tc.args...)
		code := realMain(args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.out) || !strings.Contains(stderr.String(), tc.err) {
			t.Errorf("pushagent %v: code %d, stdout %q, stderr %q; want code %d, stdout with %q, stderr with %q",
				args, code, stdout.String(), stderr.String(), tc.code, tc.out, tc.err)
		}
		if tc.code == exitOK && strings.Contains(stdout.String(), "pushagent_collector_") {
			t.Errorf("pushagent %v printed the agent's own series:\n%s", args, stdout.String())
		}
	}
}
