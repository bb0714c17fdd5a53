package agent

import (
	"context"
	"log/slog"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/httpplugin"
	"github.com/pushagent/pushagent/agent/wasmhost"
)

// collector is one configured collector, whatever runs it: a wasm plugin
// in the agent's sandbox or an HTTP endpoint. The run loop, the merge and
// the status page see only this, the way node_exporter's Collector hides
// what each of its collectors reads; newCollector is the one place that
// tells the kinds apart.
//
// Implementations are safe for concurrent use: runs of different jobs may
// share a collector's plugin.
type collector interface {
	// run performs one run for job and returns the exposition text the
	// collector printed. ctx carries the run's deadline; log gets what the
	// collector logs, tagged with job and collector by the caller.
	run(ctx context.Context, job string, log *slog.Logger) ([]byte, error)
	// source is the plugin file or the endpoint URL, for logs and the
	// status page. It holds no secret.
	source() string
	// changed reports whether what the collector runs changed since it
	// was loaded (a rebuilt plugin file), so that a reload loads it again.
	changed() bool
}

// newCollector loads what c runs: it compiles a wasm plugin (once per file
// and memory limit, in host) or prepares an HTTP client.
func newCollector(ctx context.Context, host *wasmhost.Host, c config.Collector) (collector, error) {
	if c.HTTP != nil {
		cl, err := httpplugin.New(c.HTTP)
		if err != nil {
			return nil, err
		}
		return &httpCollector{cfg: c, client: cl}, nil
	}
	p, err := host.Load(ctx, c.Plugin, c.MemoryLimit)
	if err != nil {
		return nil, err
	}
	return &wasmCollector{cfg: c, plugin: p}, nil
}

// wasmCollector runs a wasm plugin in the sandbox its config grants.
type wasmCollector struct {
	cfg    config.Collector
	plugin *wasmhost.Plugin
}

func (w *wasmCollector) run(ctx context.Context, _ string, log *slog.Logger) ([]byte, error) {
	c := w.cfg
	return w.plugin.Run(ctx, wasmhost.Request{
		Config:    c.Config,
		Sandbox:   wasmhost.Sandbox{Mounts: c.Mounts, Env: c.Env},
		MaxOutput: c.MaxOutput,
		Logger:    log,
		HTTP: wasmhost.HTTPGrant{
			AllowHosts:  c.AllowHosts,
			CAFile:      c.CAFile,
			MaxResponse: c.MaxResponse,
			Timeout:     c.Timeout,
		},
	})
}

func (w *wasmCollector) source() string { return w.cfg.Plugin }

func (w *wasmCollector) changed() bool { return w.plugin.Changed() }

// httpCollector POSTs the config to an endpoint that answers exposition
// text (docs/plugin-abi.md, "HTTP plugins").
type httpCollector struct {
	cfg    config.Collector
	client *httpplugin.Client
}

func (h *httpCollector) run(ctx context.Context, job string, _ *slog.Logger) ([]byte, error) {
	return h.client.Run(ctx, job, h.cfg.Name, h.cfg.Config, h.cfg.MaxOutput)
}

func (h *httpCollector) source() string { return h.client.URL() }

// changed is false: an endpoint is reached anew on every run.
func (h *httpCollector) changed() bool { return false }
