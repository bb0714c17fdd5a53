package sdkcheck

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushagent/pushagent/internal/plugintest"
)

var benchWasm = flag.String("sdkcheck.wasm", "", "comma-separated reactor modules to measure beside internal/benchplugin, e.g. one built from an older checkout")

// BenchmarkReactorCall is the wasm time of one warm call of the benchmark
// collector (internal/benchplugin, 20 gauge series): bare wazero, compiled,
// without the agent's deadline checks, so that it measures what the SDK
// makes the plugin do and nothing of the host. Beside it runs
// internal/benchplugin/lean, the same lines written by hand without the
// SDK: the floor, measured in the same run, since the time of a call varies
// with the machine. docs/benchmarks.md measures the whole collector run on
// the agent's host.
//
// Besides the time it reports the module's size and the instance's linear
// memory after 100 calls: the agent keeps instances warm, and a Go
// instance never gives memory back.
func BenchmarkReactorCall(b *testing.B) {
	modules := map[string][]byte{
		"benchplugin": plugintest.Build(b, "github.com/pushagent/pushagent/internal/benchplugin", true),
		"lean":        plugintest.Build(b, "github.com/pushagent/pushagent/internal/benchplugin/lean", true),
	}
	if *benchWasm != "" {
		for _, path := range strings.Split(*benchWasm, ",") {
			wasm, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			modules[filepath.Base(path)] = wasm
		}
	}
	const lastLine = `bench_value{i="19",worker="bench"} 28.75`
	for _, name := range sortedKeys(modules) {
		b.Run(name, func(b *testing.B) {
			re := plugintest.NewRuntime(b, modules[name]).NewReactor(nil)
			collect := func() {
				if res := re.Collect(`{"series":20}`); res.Code != 0 || !strings.Contains(res.Stdout, lastLine) {
					b.Fatalf("code %d\nstdout:\n%s\nstderr:\n%s", res.Code, res.Stdout, res.Stderr)
				}
			}
			for range 100 {
				collect()
			}
			mem := re.MemoryBytes()
			for b.Loop() {
				collect()
			}
			b.ReportMetric(float64(len(modules[name])), "wasm-bytes")
			b.ReportMetric(float64(mem), "mem-bytes-after-100")
		})
	}
}
