package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/prometheus/common/expfmt"

	"github.com/pushagent/pushagent/agent"
	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/merge"
	"github.com/pushagent/pushagent/agent/series"
)

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// cmdPluginRun runs one plugin once, sandboxed as a collector with the
// given grants would be, without a schedules.yaml: a plugin author's inner
// loop. It builds the one-collector config it stands for and loads it with
// the config package, so defaults, checks and error messages are the
// agent's own.
func cmdPluginRun(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("plugin run", flag.ContinueOnError)
	var c common
	flags.StringVar(&c.cacheDir, "cache-dir", defaultCacheDir(), "wazero compilation cache; \"\" keeps it in memory only")
	flags.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	c.logFormat = "text"
	cfgJSON := flags.String("config", "{}", "the collector's config, as JSON")
	var mounts, env, allow listFlag
	flags.Var(&mounts, "mount", "GUEST=HOST: mount the host directory read-only at the guest path (repeatable)")
	flags.Var(&env, "env", "NAME: pass this environment variable (repeatable)")
	flags.Var(&allow, "allow-host", "HOST[:PORT] or *.DOMAIN the plugin's HTTP calls may reach (repeatable)")
	timeout := flags.String("timeout", "", "the run's timeout (default: the collector default)")
	memLimit := flags.String("memory-limit", "", "the plugin's memory limit, e.g. 64MiB (default: the collector default)")
	file, code, ok := parseFlagsWithArg(flags, args, stderr, pluginUsage, "one .wasm file")
	if !ok {
		return code
	}
	yaml, err := pluginRunConfig(file, *cfgJSON, mounts, env, allow, *timeout, *memLimit)
	if err != nil {
		fmt.Fprintln(stderr, "pushagent plugin run:", err)
		return exitUsage
	}
	logger, err := c.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "pushagent plugin run:", err)
		return exitUsage
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(stderr, "pushagent plugin run:", err)
		return exitFailed
	}
	// Relative paths (the plugin, mounts) are relative to the working
	// directory, as on any command line.
	cfg, err := config.Parse([]byte(yaml), filepath.Join(wd, "(plugin run flags)"), config.Options{})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	a, err := agent.New(ctx, cfg, agent.Options{Logger: logger, CacheDir: c.cacheDir})
	if err != nil {
		fmt.Fprintln(stderr, "pushagent plugin run:", err)
		return exitUsage
	}
	defer a.Close(context.Background())
	col, err := a.Collect(ctx, cfg.Jobs[0].Name)
	if err != nil {
		fmt.Fprintln(stderr, "pushagent plugin run:", err)
		return exitFailed
	}
	if st := col.Statuses[0]; !st.Success {
		fmt.Fprintln(stderr, "pushagent plugin run:", st.Err)
		return exitFailed
	}
	// The plugin's metrics as the agent would push them, without the
	// agent's own series about the run.
	status := []string{merge.SuccessName, merge.DurationName, merge.SamplesName, merge.DroppedName}
	enc := expfmt.NewEncoder(stdout, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range printable(col.Batch.MetricFamilies(series.DTOOptions{})) {
		if slices.Contains(status, f.GetName()) {
			continue
		}
		if err := enc.Encode(f); err != nil {
			fmt.Fprintln(stderr, "pushagent plugin run: encode:", err)
			return exitFailed
		}
	}
	return exitOK
}

// pluginRunConfig is the config file the flags stand for. Every value is
// written as a JSON string or document, which YAML reads as written.
func pluginRunConfig(plugin, cfgJSON string, mounts, env, allow []string, timeout, memLimit string) (string, error) {
	if !json.Valid([]byte(cfgJSON)) {
		return "", fmt.Errorf("--config: %q is not JSON", cfgJSON)
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var b strings.Builder
	fmt.Fprintf(&b, "gateway: {url: \"http://127.0.0.1:9091\"}\njobs:\n  - name: plugin-run\n    every: 1h\n    collectors:\n")
	fmt.Fprintf(&b, "      - name: %s\n        plugin: %s\n        config: %s\n", q(filepath.Base(plugin)), q(plugin), cfgJSON)
	if len(mounts) > 0 {
		b.WriteString("        mounts:\n")
		for _, m := range mounts {
			guest, host, ok := strings.Cut(m, "=")
			if !ok {
				return "", fmt.Errorf("--mount: %q is not GUEST=HOST (e.g. /data=./testdata)", m)
			}
			fmt.Fprintf(&b, "          %s: %s\n", q(guest), q(host))
		}
	}
	for key, list := range map[string][]string{"env": env, "allow_hosts": allow} {
		if len(list) > 0 {
			fmt.Fprintf(&b, "        %s: [", key)
			for i, v := range list {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(q(v))
			}
			b.WriteString("]\n")
		}
	}
	if timeout != "" {
		fmt.Fprintf(&b, "        timeout: %s\n", q(timeout))
	}
	if memLimit != "" {
		fmt.Fprintf(&b, "        memory_limit: %s\n", q(memLimit))
	}
	return b.String(), nil
}
