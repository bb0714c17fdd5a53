package agent

import (
	"bytes"
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/merge"
	"github.com/pushagent/pushagent/agent/series"
	"github.com/pushagent/pushagent/agent/wasmhost"
	"github.com/pushagent/pushagent/internal/benchplugin/collect"
	"github.com/pushagent/pushagent/internal/testenv"
)

// The benchmarks of docs/benchmarks.md. Each figure has its baseline in
// the same run; see that page for the commands and the results.

func benchPlugin(b *testing.B, reactor bool) *wasmhost.Plugin {
	b.Helper()
	var args []string
	name := "bench-command.wasm"
	if reactor {
		args, name = []string{"-buildmode=c-shared"}, "bench-reactor.wasm"
	}
	wasm := testenv.BuildGoArgs(b, name, "./internal/benchplugin", args, "GOOS=wasip1", "GOARCH=wasm")
	h, err := wasmhost.New(wasmhost.Options{CacheDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Close(context.Background()) })
	p, err := h.Load(context.Background(), wasm, 32<<20)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

var benchConfig = []byte(`{"series":20}`)

// BenchmarkCollectorRun is one warm collector run on the host: call the
// plugin, parse its output, merge it into the job's families.
func BenchmarkCollectorRun(b *testing.B) {
	b.Run("wasm-go-reactor", func(b *testing.B) {
		p := benchPlugin(b, true)
		j := merge.Job{Name: "bench", Reserved: []string{"instance"}}
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			out, err := p.Run(ctx, wasmhost.Request{Config: benchConfig})
			if err != nil {
				b.Fatal(err)
			}
			batch, _ := j.MergeBatch([]merge.Result{{Collector: "c", Output: out}})
			if len(batch.Families) != 5 {
				b.Fatalf("%d families", len(batch.Families))
			}
		}
	})
	b.Run("native-func", func(b *testing.B) {
		// The same collector as a native Go function into a registry,
		// gathered: what a hand-rolled exporter pays.
		b.ReportAllocs()
		for b.Loop() {
			reg := prometheus.NewRegistry()
			g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bench_value", Help: "A benchmark gauge."}, []string{"i", "worker"})
			reg.MustRegister(g)
			for i := 0; i < 20; i++ {
				g.WithLabelValues(strconv.Itoa(i), "bench").Set(collect.Value(i))
			}
			fams, err := reg.Gather()
			if err != nil || len(fams) != 1 {
				b.Fatal(err)
			}
		}
	})
	b.Run("fork-exec-native", func(b *testing.B) {
		bin := testenv.BuildGo(b, "bench-native", "./internal/benchplugin")
		for b.Loop() {
			cmd := exec.Command(bin)
			cmd.Stdin = bytes.NewReader(benchConfig)
			out, err := cmd.Output()
			if err != nil || len(out) == 0 {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCollectorParts splits the warm run into its parts.
func BenchmarkCollectorParts(b *testing.B) {
	p := benchPlugin(b, true)
	ctx := context.Background()
	out, err := p.Run(ctx, wasmhost.Request{Config: benchConfig})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("call", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.Run(ctx, wasmhost.Request{Config: benchConfig}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := series.Parse(out); err != nil {
				b.Fatal(err)
			}
		}
	})
	// What the parse was before series.Parse: expfmt into client_model.
	b.Run("parse-expfmt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := merge.ParseText(out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("merge", func(b *testing.B) {
		j := merge.Job{Name: "bench", Reserved: []string{"instance"}}
		b.ReportAllocs()
		for b.Loop() {
			j.MergeBatch([]merge.Result{{Collector: "c", Output: out}})
		}
	})
}

// buildExample runs examples/plugins/<lang>/build.sh into a temp dir.
func buildExample(b *testing.B, lang string, tools ...string) string {
	b.Helper()
	for _, tool := range tools {
		testenv.RequireBinary(b, tool)
	}
	out := b.TempDir()
	cmd := exec.Command("bash", filepath.Join("..", "examples", "plugins", lang, "build.sh"), out)
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build %s: %v\n%s", lang, err, o)
	}
	return out
}

func loadFile(b *testing.B, path string) *wasmhost.Plugin {
	b.Helper()
	h, err := wasmhost.New(wasmhost.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Close(context.Background()) })
	p, err := h.Load(context.Background(), path, 32<<20)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkOtherLanguages is the same measurement (call + parse + merge of
// 20 series) for the C and Rust example plugins, beside fork/exec of the
// static native C build of the same source.
func BenchmarkOtherLanguages(b *testing.B) {
	cfg := []byte(`{"name":"bench","count":20}`)
	run := func(b *testing.B, p *wasmhost.Plugin) {
		j := merge.Job{Name: "bench", Reserved: []string{"instance"}}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			out, err := p.Run(ctx, wasmhost.Request{Config: cfg})
			if err != nil {
				b.Fatal(err)
			}
			if batch, st := j.MergeBatch([]merge.Result{{Collector: "c", Output: out}}); !st[0].Success || len(batch.Families) < 5 {
				b.Fatalf("merge: %+v", st)
			}
		}
	}
	c := buildExample(b, "c", "clang", "wasm-ld")
	rust := buildExample(b, "rust", "/usr/bin/rustc")
	b.Run("wasm-c-command", func(b *testing.B) { run(b, loadFile(b, filepath.Join(c, "c-command.wasm"))) })
	b.Run("wasm-c-reactor", func(b *testing.B) { run(b, loadFile(b, filepath.Join(c, "c-reactor.wasm"))) })
	b.Run("wasm-rust-command", func(b *testing.B) { run(b, loadFile(b, filepath.Join(rust, "rust-command.wasm"))) })
	b.Run("wasm-rust-reactor", func(b *testing.B) { run(b, loadFile(b, filepath.Join(rust, "rust-reactor.wasm"))) })
	b.Run("fork-exec-static-c", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.Command(filepath.Join(c, "c-native"))
			cmd.Stdin = bytes.NewReader(cfg)
			if out, err := cmd.Output(); err != nil || len(out) == 0 {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGoCommand is the Go plugin as a command: a fresh instance per
// run, what the reactor form saves.
func BenchmarkGoCommand(b *testing.B) {
	p := benchPlugin(b, false)
	ctx := context.Background()
	for b.Loop() {
		if _, err := p.Run(ctx, wasmhost.Request{Config: benchConfig}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPush compares the agent's push path with a bare client_golang
// push of the same families to the same real Pushgateway.
func BenchmarkPush(b *testing.B) {
	gw := testenv.StartPushgateway(b, testenv.PushgatewayOptions{Username: "u", Password: "p"})
	p := benchPlugin(b, true)
	out, err := p.Run(context.Background(), wasmhost.Request{Config: benchConfig})
	if err != nil {
		b.Fatal(err)
	}
	batch, _ := merge.Job{Name: "bench", Reserved: []string{"instance"}}.MergeBatch([]merge.Result{{Collector: "c", Output: out}})
	g := gatherer(batch.MetricFamilies(series.DTOOptions{}))
	b.Run("bare-client_golang", func(b *testing.B) {
		for b.Loop() {
			if err := push.New(gw.URL, "bench").Grouping("instance", "a").BasicAuth("u", "p").Gatherer(g).Push(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("agent", func(b *testing.B) {
		a := &Agent{metrics: newSelfMetrics(nil), logger: slog.New(slog.DiscardHandler)}
		gwc := config.Gateway{URL: gw.URL, Timeout: 10 * time.Second, BasicAuth: &config.BasicAuth{Username: "u", Password: "p"}}
		out, err := newPushgateway("gateway", gwc, a.metrics, nil)
		if err != nil {
			b.Fatal(err)
		}
		j := &job{cfg: config.Job{Name: "bench"}, logger: a.logger, record: &jobRecord{}}
		cfg := &config.Config{Gateway: gwc, Jobs: []config.Job{j.cfg}}
		a.cur.Store(&state{cfg: cfg, outputs: []*namedOutput{{name: "gateway", cfg: cfg.AllOutputs()[0], out: out}}, jobs: []*job{j}})
		c := &Collection{Job: "bench", Grouping: map[string]string{"instance": "a"}, Method: "put", Batch: batch}
		for b.Loop() {
			if err := a.Push(context.Background(), c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
