package testenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	builds sync.Map // build key → *build

	buildDirOnce sync.Once
	buildDir     string
	buildDirErr  error

	moduleRootOnce sync.Once
	moduleRoot     string
	moduleRootErr  error
)

// build is one cached go build. A mutex rather than a sync.Once, so that
// a build whose output was removed is redone instead of handed out stale.
type build struct {
	mu   sync.Mutex
	path string
}

// BuildGo runs "go build -o out pkg" from the module root with env added to
// the environment (e.g. "GOOS=wasip1", "GOARCH=wasm") and returns the path
// of the result. See BuildGoArgs.
func BuildGo(t testing.TB, out, pkg string, env ...string) string {
	t.Helper()
	return BuildGoArgs(t, out, pkg, nil, env...)
}

// BuildGoArgs is BuildGo with extra go build flags, e.g.
// []string{"-buildmode=c-shared"} for a WASI reactor plugin.
//
// pkg is resolved from the module root, so "./plugins/hello" works from
// any package's tests. A relative out names a file in a directory shared
// by the whole test binary: each distinct (out, pkg, args, env) is built
// once per test binary run, however many tests ask for it. An absolute out
// is used as given. Call Main from TestMain to remove the shared directory
// when the tests end.
func BuildGoArgs(t testing.TB, out, pkg string, args []string, env ...string) string {
	t.Helper()
	goBin := RequireBinary(t, "go")
	root := findModuleRoot(t)
	if !filepath.IsAbs(out) {
		out = filepath.Join(sharedBuildDir(t), out)
	}
	key := strings.Join([]string{out, pkg, strings.Join(args, "\x01"), strings.Join(env, "\x01")}, "\x00")
	v, _ := builds.LoadOrStore(key, &build{})
	b := v.(*build)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.path != "" {
		if _, err := os.Stat(b.path); err == nil {
			return b.path
		}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatalf("testenv: go build %s: %v", pkg, err)
	}
	cmdArgs := append(append([]string{"build", "-o", out}, args...), pkg)
	cmd := exec.Command(goBin, cmdArgs...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...) // later entries win
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: %s go %s: %v\n%s", strings.Join(env, " "), strings.Join(cmdArgs, " "), err, output)
	}
	b.path = out
	return out
}

// Main runs the tests and then removes the directory BuildGo builds into.
// Use it as TestMain in packages that call BuildGo with relative outputs:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func sharedBuildDir(t testing.TB) string {
	t.Helper()
	buildDirOnce.Do(func() {
		buildDir, buildDirErr = os.MkdirTemp("", "pushagent-testenv-build-")
	})
	if buildDirErr != nil {
		t.Fatalf("testenv: create build directory: %v", buildDirErr)
	}
	return buildDir
}

// findModuleRoot walks up from the working directory, which go test sets
// to the package under test, to the directory holding go.mod.
func findModuleRoot(t testing.TB) string {
	t.Helper()
	moduleRootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			moduleRootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				moduleRoot = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				moduleRootErr = errors.New("no go.mod in the working directory or above it")
				return
			}
			dir = parent
		}
	})
	if moduleRootErr != nil {
		t.Fatalf("testenv: find module root: %v", moduleRootErr)
	}
	return moduleRoot
}
