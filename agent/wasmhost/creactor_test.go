package wasmhost

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/internal/testenv"
)

// docBlock returns the fenced block that follows "<!-- docs-test: marker -->"
// in docs/<doc>.
func docBlock(t *testing.T, doc, marker string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", doc))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "<!-- docs-test: "+marker+" -->\n")
	if !ok {
		t.Fatalf("docs/%s has no %q block", doc, marker)
	}
	_, body, ok := strings.Cut(after, "\n") // the opening fence
	body, _, ok2 := strings.Cut(body, "\n```")
	if !ok || !ok2 {
		t.Fatalf("docs/%s: the %q block is not a fenced block", doc, marker)
	}
	return body + "\n"
}

// buildCReactor compiles C source into a WASI reactor with Debian's clang
// and wasi-libc, with extra compiler or linker flags.
func buildCReactor(t *testing.T, name, src string, flags ...string) string {
	t.Helper()
	clang := testenv.RequireBinary(t, "clang")
	testenv.RequireBinary(t, "wasm-ld")
	testenv.RequireFile(t, "wasi-libc", "/usr/lib/wasm32-wasi/libc.a")
	testenv.RequireFile(t, "libclang-rt-14-dev-wasm32", "/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a")
	dir := t.TempDir()
	c := filepath.Join(dir, name+".c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name+".wasm")
	args := append([]string{"--target=wasm32-wasi", "--sysroot=/usr", "-mexec-model=reactor", "-O2", "-o", out, c}, flags...)
	if b, err := exec.Command(clang, args...).CombinedOutput(); err != nil {
		t.Fatalf("clang %s: %v\n%s", name, err, b)
	}
	return out
}

// The C reactor of docs/plugin-abi.md, written as a newcomer would with
// stdio, reads each call's config, not just the first one's. Without its
// clearerr(stdin) it would not: the second call would read nothing, which
// is what the doc warns about and what this test would catch.
func TestCReactorFromTheDocReadsEveryConfig(t *testing.T) {
	src := docBlock(t, "plugin-abi.md", "c-reactor")
	if !strings.Contains(src, "clearerr(stdin);") {
		t.Fatalf("the doc's C reactor does not clear stdin's EOF flag:\n%s", src)
	}
	h := newHost(t, Options{})
	run := func(wasm string) []string {
		p, err := h.Load(context.Background(), wasm, 16<<20)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, config := range []string{`{"a":1}`, `{}`, `{"name":"third call"}`} {
			out, err := p.Run(context.Background(), Request{Config: []byte(config)})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(out))
		}
		if n := p.Created(); n != 1 {
			t.Errorf("%d instances for 3 calls; the calls must share a warm one", n)
		}
		return got
	}
	want := func(n int) string { return fmt.Sprintf("# TYPE c_config_bytes gauge\nc_config_bytes %d\n", n) }

	got := run(buildCReactor(t, "reactor", src))
	for i, n := range []int{7, 2, 21} {
		if got[i] != want(n) {
			t.Errorf("call %d: output %q, want %q", i+1, got[i], want(n))
		}
	}

	// The same reactor without clearerr: the flaw the doc's line prevents.
	got = run(buildCReactor(t, "sticky", strings.Replace(src, "clearerr(stdin);", "", 1)))
	if got[0] != want(7) || got[1] != want(0) || got[2] != want(0) {
		t.Errorf("without clearerr, outputs %q; stdio's EOF flag no longer sticks? then the doc's warning is stale", got)
	}
}

// A C plugin that opens a path no mount grants fails with wasi-libc's
// "Capabilities insufficient"; the run's error carries that line, the
// plugin's reason, and a hint naming the collector's mounts.
func TestCPathOutsideMountsIsExplained(t *testing.T) {
	wasm := buildCReactor(t, "opener", `#include <errno.h>
#include <stdio.h>
#include <string.h>
__attribute__((export_name("pushagent_collect")))
int pushagent_collect(void) {
	FILE *f = fopen("/proc/loadavg", "r");
	if (!f) {
		fprintf(stderr, "open /proc/loadavg: %s\n", strerror(errno));
		return 1;
	}
	fclose(f);
	return 0;
}
`)
	h := newHost(t, Options{})
	p, err := h.Load(context.Background(), wasm, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Run(context.Background(), Request{Sandbox: Sandbox{Mounts: map[string]string{"/data": t.TempDir()}}})
	for _, want := range []string{
		"pushagent_collect returned 1: wasmhost: the plugin reported failure: open /proc/loadavg: Capabilities insufficient",
		"outside its collector's mounts, which grant only /data",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant it to contain %s", err, want)
		}
	}
}

// stackC keeps 64 KiB on its stack, all of wasm-ld's default stack.
const stackC = `#include <stdio.h>

static unsigned sum(volatile unsigned char *b, unsigned n) {
	unsigned s = 0;
	for (unsigned i = 0; i < n; i++) b[i] = (unsigned char)i;
	for (unsigned i = 0; i < n; i++) s += b[i];
	return s;
}

__attribute__((export_name("pushagent_collect")))
int pushagent_collect(void) {
	volatile unsigned char buf[64 * 1024];
	printf("# TYPE c_stack_sum gauge\n");
	printf("c_stack_sum %u\n", sum(buf, sizeof buf));
	fflush(stdout);
	return 0;
}
`

// The stack flags docs/plugin-abi.md gives: with them a C plugin with a
// 64 KiB local array prints its series; with wasm-ld's defaults the same
// plugin's output was corrupted, with no error of its own, which is what
// the doc warns about.
func TestCStackFlagsFromTheDoc(t *testing.T) {
	flags := strings.Fields(docBlock(t, "plugin-abi.md", "c-stack-flags"))
	if !slices.Contains(flags, "-Wl,--stack-first") || !slices.ContainsFunc(flags, func(f string) bool { return strings.HasPrefix(f, "-Wl,-z,stack-size=") }) {
		t.Fatalf("the doc's stack flags are %q, want -Wl,-z,stack-size=… and -Wl,--stack-first", flags)
	}
	const want = "# TYPE c_stack_sum gauge\nc_stack_sum 8355840\n" // 256 × (0+…+255)
	h := newHost(t, Options{})
	run := func(wasm string) (string, error) {
		p, err := h.Load(context.Background(), wasm, 16<<20)
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Run(context.Background(), Request{Config: []byte("{}")})
		return string(out), err
	}
	if out, err := run(buildCReactor(t, "stack", stackC, flags...)); err != nil || out != want {
		t.Errorf("with the doc's flags: output %q, err %v; want %q", out, err, want)
	}
	if out, err := run(buildCReactor(t, "small-stack", stackC)); err == nil && out == want {
		t.Errorf("without the flags the 64 KiB array fits after all (output %q): is the doc's 64 KiB default stale?", out)
	}
}
