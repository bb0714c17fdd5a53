package wasmhost

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/internal/testenv"
)

// A Rust plugin that opens a path no mount grants fails with std's "failed
// to find a pre-opened file descriptor"; the run's error carries that
// line and a hint naming the collector's mounts. Debian's rustc, as
// examples/plugins/rust/build.sh uses: a rustup toolchain on PATH may lack
// the WASI target.
func TestRustPathOutsideMountsIsExplained(t *testing.T) {
	rustc := testenv.RequireBinary(t, "/usr/bin/rustc")
	testenv.RequireFile(t, "libstd-rust-dev-wasm32", "/usr/lib/rustlib/wasm32-wasi/lib/libstd-*.rlib")
	dir := t.TempDir()
	src, wasm := filepath.Join(dir, "opener.rs"), filepath.Join(dir, "opener.wasm")
	if err := os.WriteFile(src, []byte(`fn main() {
    if let Err(e) = std::fs::read_dir("/data") {
        eprintln!("reading /data: {}", e);
        std::process::exit(1);
    }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(rustc, "--target", "wasm32-wasi", "-O", "-o", wasm, src).CombinedOutput(); err != nil {
		t.Fatalf("rustc: %v\n%s", err, b)
	}
	h := newHost(t, Options{})
	p, err := h.Load(context.Background(), wasm, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Run(context.Background(), Request{})
	for _, want := range []string{
		`exited with code 1: wasmhost: the plugin reported failure: reading /data: failed to find a pre-opened file descriptor`,
		"its collector has no mounts",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant it to contain %s", err, want)
		}
	}
}
