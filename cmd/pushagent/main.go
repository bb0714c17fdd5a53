// Command pushagent collects metrics with sandboxed WebAssembly plugins on
// a schedule and pushes them to a Prometheus Pushgateway.
//
// This file only parses flags and wires the agent package. It must never
// decide what a run does (that is the agent's), and never print a secret
// from the config: it prints config values only through their redacted
// forms.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/version"

	"github.com/pushagent/pushagent/agent"
	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/web"
)

// Exit codes, documented in the README.
const (
	exitOK     = 0
	exitFailed = 1 // a run, collector or push failed
	exitUsage  = 2 // bad flags or an invalid config
)

const usage = `pushagent collects metrics with sandboxed WebAssembly plugins and pushes
them to a Prometheus Pushgateway.

Usage:
  pushagent run      [flags]   run every job on its schedule until SIGINT/SIGTERM;
                               reload the config on SIGHUP or when the file changes
  pushagent once     [flags]   run every job (or --job) once; print what each output would get
  pushagent validate [flags]   check the config and compile its plugins
  pushagent version            print version and build information
  pushagent plugin new DIR     create a Go collector plugin module in DIR
  pushagent plugin run FILE    run one plugin once and print its metrics
  pushagent healthcheck [--url URL] [TLS and basic auth flags]
                               exit 0 if the agent's /healthz answers 200 (for
                               container HEALTHCHECKs, where there is no curl)
  pushagent hash-password [--password-file FILE]
                               print the bcrypt hash of a password (standard input
                               by default) for a web config's basic_auth_users

Run 'pushagent <command> -h' for a command's flags.

Exit codes: 0 success, 1 a collector or push failed, 2 bad flags or config.
`

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(rest, stdout, stderr)
	case "once":
		return cmdOnce(rest, stdout, stderr)
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, version.Print(program))
		return exitOK
	case "healthcheck":
		return cmdHealthcheck(rest, stdout, stderr)
	case "plugin":
		return cmdPlugin(rest, stdout, stderr)
	case "hash-password":
		return cmdHashPassword(rest, stdout, stderr)
	}
	fmt.Fprintf(stderr, "pushagent: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

// common holds the flags every command shares.
type common struct {
	config    string
	cacheDir  string
	logLevel  string
	logFormat string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "schedules.yaml", "path of the config file")
	fs.StringVar(&c.cacheDir, "cache-dir", defaultCacheDir(), "wazero compilation cache, so restarts skip compiling plugins; \"\" keeps it in memory only")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
}

func defaultCacheDir() string {
	if d := os.Getenv("PUSHAGENT_CACHE_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "pushagent")
	}
	return ""
}

func (c *common) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", c.logLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", c.logFormat)
}

// parseFlags parses a command's flags. When it returns false the command
// exits with code: 0 after -h (asking for help is not an error), 2 on a
// usage error.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pushagent %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	return exitOK, true
}

// parseFlagsWithArg parses the flags of a command that takes one argument
// after them (what names it in the message), printing usage under
// "Flags" after -h or a usage error.
func parseFlagsWithArg(fs *flag.FlagSet, args []string, stderr io.Writer, usage, what string) (arg string, code int, ok bool) {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage, "\nFlags of ", fs.Name(), ":\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", exitOK, false
		}
		return "", exitUsage, false
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "pushagent %s: want %s, got %d arguments (flags go before it)\n", fs.Name(), what, fs.NArg())
		return "", exitUsage, false
	}
	return fs.Arg(0), exitOK, true
}

// setup loads the config and builds the agent, printing problems to stderr.
func setup(ctx context.Context, c *common, stderr io.Writer, opts agent.Options) (*agent.Agent, *config.Config, *slog.Logger, int) {
	logger, err := c.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "pushagent:", err)
		return nil, nil, nil, exitUsage
	}
	cfg, err := config.Load(c.config, config.Options{})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, nil, nil, exitUsage
	}
	opts.Logger, opts.CacheDir = logger, c.cacheDir
	a, err := agent.New(ctx, cfg, opts)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cfg.Path, err)
		return nil, nil, nil, exitUsage
	}
	return a, cfg, logger, exitOK
}

// warnMounts logs at start what validate prints as warnings about paths
// no mount grants: a run that fails on one then has its reason above it.
func warnMounts(logger *slog.Logger, cfg *config.Config) {
	for _, w := range agent.MountWarnings(cfg) {
		logger.Warn("a collector's config names a path no mount grants", "detail", w)
	}
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var c common
	c.register(fs)
	listen := fs.String("listen", "", "address for the status page (/), /metrics, /healthz and /readyz (e.g. 127.0.0.1:9465); empty: no listener")
	webConfig := fs.String("web.config.file", "", webConfigFlagHelp)
	readyMaxFailing := fs.Duration("ready-max-failing", web.DefaultReadyMaxFailing, "how long a job's pushes may fail before /readyz reports not ready")
	grace := fs.Duration("shutdown-grace", config.DefaultShutdownGrace, "how long in-flight runs may take to finish on SIGINT/SIGTERM")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if *readyMaxFailing <= 0 {
		fmt.Fprintf(stderr, "pushagent run: --ready-max-failing: must be a positive duration, got %s\n", *readyMaxFailing)
		return exitUsage
	}
	// Checked before the plugins compile (seconds), so a bad web config
	// fails at once.
	var webSec webSecurity
	if *webConfig != "" {
		if *listen == "" {
			fmt.Fprintln(stderr, "pushagent run: --web.config.file secures the --listen listener: give --listen too")
			return exitUsage
		}
		var err error
		if webSec, err = checkWebConfig(*webConfig); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector(program))
	a, cfg, logger, code := setup(ctx, &c, stderr, agent.Options{Registry: reg, ShutdownGrace: *grace})
	if code != exitOK {
		return code
	}
	warnMounts(logger, cfg)
	defer a.Close(context.Background())
	if *listen != "" {
		h := web.New(a, reg, web.Options{Logger: logger, ReadyMaxFailing: *readyMaxFailing, Version: versionLine()})
		if *webConfig != "" {
			logger.Info("listener secured by the web config", "file", *webConfig, "security", webSec.String())
			for _, w := range webSec.warnings() {
				logger.Warn(w, "file", *webConfig)
			}
		}
		srv, err := serve(*listen, *webConfig, h, logger)
		if err != nil {
			fmt.Fprintln(stderr, "pushagent: --listen:", err)
			return exitUsage
		}
		defer srv.Close()
	}
	go watchReloads(ctx, a, c.config, hup, logger)
	if err := a.Run(ctx); err != nil {
		logger.Error("agent stopped with an error", "err", err)
		return exitFailed
	}
	logger.Info("agent stopped")
	return exitOK
}

func cmdOnce(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("once", flag.ContinueOnError)
	var c common
	c.register(fs)
	only := fs.String("job", "", "run only this job")
	doPush := fs.Bool("push", false, "push to the gateway instead of printing")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Printing opens no output: a remote_write buffer is locked by its
	// owner, often a running agent this once only looks beside.
	a, cfg, logger, code := setup(ctx, &c, stderr, agent.Options{Offline: !*doPush})
	if code != exitOK {
		return code
	}
	warnMounts(logger, cfg)
	defer a.Close(context.Background())
	jobs := a.Jobs()
	if *only != "" {
		jobs = []string{*only}
	}
	code = exitOK
	for _, name := range jobs {
		col, err := a.Collect(ctx, name)
		if err != nil {
			fmt.Fprintln(stderr, "pushagent once:", err)
			return exitUsage
		}
		for _, st := range col.Statuses {
			if !st.Success {
				code = exitFailed
			}
		}
		if *doPush {
			// One line per output: one that fails hides no other's
			// success. The agent has logged each failure already.
			results, err := a.PushEach(ctx, col)
			if err != nil {
				fmt.Fprintln(stderr, "pushagent once:", err)
				return exitUsage
			}
			for _, r := range results {
				if r.Err != nil {
					fmt.Fprintf(stdout, "push of job %q (%s) to output %q (%s %s) failed: %v\n", name, config.DescribeGrouping(col.Grouping), r.Output, r.Kind, r.URL, r.Err)
					code = exitFailed
					continue
				}
				fmt.Fprintf(stdout, "pushed job %q (%s) to output %q (%s %s): %d families\n", name, config.DescribeGrouping(col.Grouping), r.Output, r.Kind, r.URL, len(col.Batch.Families))
			}
			continue
		}
		fmt.Fprintf(stdout, "# job=%q grouping: %s method: %s\n", name, config.DescribeGrouping(col.Grouping), col.Method)
		// One section per output: what it would receive after its own
		// external_labels and write_relabel_configs.
		previews, err := a.Preview(col)
		if err != nil {
			fmt.Fprintln(stderr, "pushagent once:", err)
			return exitFailed
		}
		for _, p := range previews {
			fmt.Fprintf(stdout, "# output %q (%s %s)", p.Name, p.Kind, p.URL)
			if p.Dropped > 0 {
				fmt.Fprintf(stdout, ": %d series dropped by its rules", p.Dropped)
			}
			fmt.Fprintln(stdout)
			enc := expfmt.NewEncoder(stdout, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, f := range printable(p.Families) {
				if err := enc.Encode(f); err != nil {
					fmt.Fprintln(stderr, "pushagent once: encode:", err)
					return exitFailed
				}
			}
			fmt.Fprintln(stdout)
		}
	}
	return code
}

// printable is an output's families as the text format prints them, each
// family's series sorted by their labels, as the Pushgateway shows them.
func printable(fams []*dto.MetricFamily) []*dto.MetricFamily {
	sorted, err := prometheus.Gatherers{gathered(fams)}.Gather()
	if err != nil {
		// Unreachable for a merged batch (the merge and the rules keep
		// it consistent); print what there is rather than nothing.
		return fams
	}
	return sorted
}

type gathered []*dto.MetricFamily

func (g gathered) Gather() ([]*dto.MetricFamily, error) { return g, nil }

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	var c common
	c.register(fs)
	webConfig := fs.String("web.config.file", "", webConfigFlagHelp)
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	// Both files are checked, so one run reports the problems of both.
	var webSec webSecurity
	var webErr error
	if *webConfig != "" {
		if webSec, webErr = checkWebConfig(*webConfig); webErr != nil {
			fmt.Fprintln(stderr, webErr)
		}
	}
	a, cfg, _, code := setup(context.Background(), &c, stderr, agent.Options{Offline: true})
	if code != exitOK {
		return code
	}
	defer a.Close(context.Background())
	// What run would fail on at start: a buffer directory it cannot
	// create or write. (Not whether another agent holds it: see
	// CheckBufferDirs.)
	if err := cfg.CheckBufferDirs(); err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if webErr != nil {
		return exitUsage
	}
	n := 0
	for _, j := range cfg.Jobs {
		n += len(j.Collectors)
	}
	var outs []string
	for _, o := range cfg.AllOutputs() {
		if o.RemoteWrite != nil {
			outs = append(outs, o.Name+" (remote_write) "+o.RemoteWrite.URL)
		} else {
			outs = append(outs, o.Name+" "+o.Pushgateway.URL)
		}
	}
	fmt.Fprintf(stdout, "%s: OK: %s, %d job(s), %d collector(s), plugins compiled\n", cfg.Path, strings.Join(outs, ", "), len(cfg.Jobs), n)
	if cfg.Shard != nil {
		fmt.Fprintf(stdout, "  %s: this agent runs %d of the %d job(s): %s\n", cfg.Shard, len(a.Jobs()), len(cfg.Jobs), strings.Join(a.Jobs(), ", "))
	}
	for _, j := range cfg.Jobs {
		sched := j.Schedule()
		var where string
		if d := agent.LoweredTimeout(cfg, j); d > 0 {
			where += fmt.Sprintf(", default timeout lowered to %v to fit every %v", d, j.Every)
		}
		if j.Outputs != nil {
			where += ", outputs " + strings.Join(j.Outputs, ", ")
		}
		switch {
		case cfg.Shard == nil:
		case j.Replicated:
			where += ", runs on every shard (replicated)"
		case cfg.Owned(j):
			where += ", runs on this shard"
		default:
			where += fmt.Sprintf(", runs on shard %d", config.ShardOf(j.Name, cfg.Shard.Count))
		}
		fmt.Fprintf(stdout, "  job %q: %s, %s, grouping %s, %d collector(s)%s\n", j.Name, sched, j.Method, config.DescribeGrouping(j.Grouping), len(j.Collectors), where)
	}
	if *webConfig != "" {
		fmt.Fprintf(stdout, "  web config %s: %s\n", *webConfig, webSec)
		for _, w := range webSec.warnings() {
			fmt.Fprintf(stdout, "  warning: web config %s: %s\n", *webConfig, w)
		}
	}
	for _, w := range agent.TimeoutWarnings(cfg) {
		fmt.Fprintf(stdout, "  warning: %s\n", w)
	}
	for _, w := range agent.MountWarnings(cfg) {
		fmt.Fprintf(stdout, "  warning: %s\n", w)
	}
	for _, n := range agent.MountNotes(cfg) {
		fmt.Fprintf(stdout, "  note: %s\n", n)
	}
	return exitOK
}

func cmdHealthcheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	// Every flag but --timeout defaults to an environment variable, so
	// that the image's HEALTHCHECK, which has no arguments, passes a
	// secured listener once the container's environment says how.
	hc := healthClient{}
	skipVerify, err := envBool("PUSHAGENT_HEALTHCHECK_INSECURE_SKIP_VERIFY")
	if err != nil {
		fmt.Fprintln(stderr, "pushagent healthcheck:", err)
		return exitUsage
	}
	fs.StringVar(&hc.url, "url", envOr("PUSHAGENT_HEALTHCHECK_URL", "http://127.0.0.1:9465/healthz"), "the agent's /healthz (https:// for a listener with TLS); env PUSHAGENT_HEALTHCHECK_URL")
	fs.DurationVar(&hc.timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	fs.StringVar(&hc.caFile, "ca-file", os.Getenv("PUSHAGENT_HEALTHCHECK_CA_FILE"), "PEM CA certificate(s) to verify the listener's certificate with; default: the system's; env PUSHAGENT_HEALTHCHECK_CA_FILE")
	fs.StringVar(&hc.certFile, "cert-file", os.Getenv("PUSHAGENT_HEALTHCHECK_CERT_FILE"), "client certificate (PEM), for a web config with client_auth_type; env PUSHAGENT_HEALTHCHECK_CERT_FILE")
	fs.StringVar(&hc.keyFile, "key-file", os.Getenv("PUSHAGENT_HEALTHCHECK_KEY_FILE"), "the client certificate's private key (PEM); env PUSHAGENT_HEALTHCHECK_KEY_FILE")
	fs.StringVar(&hc.serverName, "server-name", os.Getenv("PUSHAGENT_HEALTHCHECK_SERVER_NAME"), "name to verify the listener's certificate against, when it does not hold the --url's host; env PUSHAGENT_HEALTHCHECK_SERVER_NAME")
	fs.BoolVar(&hc.insecureSkipVerify, "insecure-skip-verify", skipVerify, "do not verify the listener's certificate; only for a loopback --url; env PUSHAGENT_HEALTHCHECK_INSECURE_SKIP_VERIFY=true")
	fs.StringVar(&hc.username, "username", os.Getenv("PUSHAGENT_HEALTHCHECK_USERNAME"), "basic auth user of the web config's basic_auth_users; env PUSHAGENT_HEALTHCHECK_USERNAME")
	fs.StringVar(&hc.passwordFile, "password-file", os.Getenv("PUSHAGENT_HEALTHCHECK_PASSWORD_FILE"), "file holding that user's password (a trailing newline is ignored); there is no password flag, so it is never on a command line; env PUSHAGENT_HEALTHCHECK_PASSWORD_FILE")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	client, req, err := hc.newRequest()
	if err != nil {
		fmt.Fprintln(stderr, "pushagent healthcheck:", err)
		return exitUsage
	}
	url := req.URL.Redacted()
	resp, err := client.Do(req)
	if err != nil {
		msg := fmt.Sprintf("pushagent healthcheck: %v", err)
		if hint := healthHint(err, 0, "", hc.username); hint != "" {
			msg += "; " + hint
		}
		fmt.Fprintln(stderr, msg)
		return exitFailed
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		msg := fmt.Sprintf("pushagent healthcheck: %s answered %s", url, resp.Status)
		if hint := healthHint(nil, resp.StatusCode, string(body), hc.username); hint != "" {
			msg += "; " + hint
		}
		fmt.Fprintln(stderr, msg)
		return exitFailed
	}
	fmt.Fprintln(stdout, "ok")
	return exitOK
}

// envBool reads a boolean environment variable; unset or empty is false.
func envBool(name string) (bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q is not true or false", name, v)
	}
	return b, nil
}

// envOr is the environment variable name, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
