package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"
	"github.com/prometheus/prometheus/model/relabel"
)

// Options are what the loader takes from the process. They are injected so
// that tests never touch the real environment.
type Options struct {
	// Environ returns the environment as "NAME=value" entries; ${VAR} and
	// collector env grants read from it. Default os.Environ.
	Environ func() []string
	// Hostname is used for ${HOSTNAME} when the HOSTNAME variable is unset
	// or empty (it is often a shell variable that is not exported).
	// Default os.Hostname.
	Hostname func() (string, error)
}

// Config is a loaded, validated configuration. Its values are final: defaults
// are applied, paths are absolute, ${VAR} is expanded and secret files are read.
type Config struct {
	Path string // absolute path of the loaded file
	// Gateway is the top-level gateway section: the output named
	// "gateway" (see [Config.AllOutputs]).
	Gateway Gateway
	Outputs []Output // the outputs section, in name order
	Shard   *Shard   // nil: this agent runs every job
	Jobs    []Job    // defaults already applied

	lines map[string]int // YAML path → line, for problems found after the load
}

// Gateway is where metrics are pushed.
type Gateway struct {
	URL         string        // http:// or https://, without credentials
	Timeout     time.Duration // per push request; default [DefaultGatewayTimeout]
	BasicAuth   *BasicAuth    // nil when not configured
	BearerToken Secret        // "" when not configured
	TLS         TLS
	WriteRules
}

// BasicAuth holds HTTP basic auth credentials. Password comes from the
// config or from password_file (read at load, trailing newline trimmed).
type BasicAuth struct {
	Username string
	Password Secret
}

// TLS configures the connection to an https gateway. File paths are absolute
// (relative ones are resolved against the config file's directory) and were
// checked to be regular files at load; their content is read by the pusher.
type TLS struct {
	CAFile, CertFile, KeyFile, ServerName string
	InsecureSkipVerify                    bool
}

// Job is one push to the gateway: its collectors run together and their
// merged metrics are pushed under Name with Grouping.
type Job struct {
	Name             string
	Every            time.Duration // 0 when Cron is set
	Cron             string        // 5 fields, or 6 with leading seconds; "" when Every is set
	Jitter           time.Duration // 0 ≤ Jitter < the interval between runs
	Grouping         map[string]string
	Method           string // "put" (replace the group) or "post" (add to it); lower case
	DeleteOnShutdown bool
	// Replicated says the job runs in several agents at once (scaled
	// replicas); its grouping must then tell them apart.
	Replicated bool
	// ExpireAfter, when not 0, lets the agent delete groups of this job at
	// the gateway that were last pushed longer ago than this: groups left by
	// replicas that died without a clean shutdown. It is at least 1m and at
	// least 3 times the longest time between runs (interval plus jitter).
	ExpireAfter time.Duration
	// Outputs names the outputs the job's runs go to; nil: every output.
	Outputs []string
	// RelabelConfigs apply to the job's merged series, after each
	// collector's own; they never see job or grouping labels (see
	// docs/config.md). Empty: none.
	RelabelConfigs []*relabel.Config
	Collectors     []Collector
}

// Schedule prints when the job runs, the one form validate and the status
// page show: "every 15s", "every 15s ±2s" (with jitter) or the cron
// expression, also followed by its jitter.
func (j Job) Schedule() string {
	s := j.Cron
	if j.Every > 0 {
		s = "every " + j.Every.String()
	}
	if j.Jitter > 0 {
		s += " ±" + j.Jitter.String()
	}
	return s
}

// Collector is one plugin run within a job, with the sandbox it is granted.
// It prints with Config and Env values redacted (see [Collector.Format]).
type Collector struct {
	Name        string
	Plugin      string            // absolute, cleaned path of the .wasm file
	Config      []byte            // JSON handed to the plugin on stdin; "{}" when absent
	Timeout     time.Duration     // wall-clock limit per run
	MemoryLimit uint64            // bytes of wasm memory
	MaxOutput   int64             // bytes the plugin may write to stdout
	SeriesLimit int               // series one run may return; more fails the run
	Labels      map[string]string // added to every series the plugin returns
	Mounts      map[string]string // guest path -> absolute host directory, read-only
	Env         map[string]string // granted name -> value read at load

	// TimeoutSetAt is the YAML path of the key Timeout comes from (the
	// collector's timeout or defaults.timeout); "" for the built-in
	// default, which the agent lowers where it cannot fit the job's every.
	TimeoutSetAt string

	// What the http_request host call may reach. Empty AllowHosts: nothing.
	AllowHosts  []string // "host:port", "host", "*.example.com", "*.example.com:443"
	CAFile      string   // PEM roots for HTTPS instead of the system's, absolute
	MaxResponse int64    // bytes of one HTTP response; default [DefaultMaxResponse]

	// HTTP is set instead of Plugin for an HTTP plugin: an endpoint that
	// takes the config (POST, JSON) and answers with exposition text.
	HTTP *HTTPPlugin

	// RelabelConfigs apply to the collector's series as the plugin
	// printed them, before SeriesLimit and Labels. Empty: none.
	RelabelConfigs []*relabel.Config
}

// HTTPPlugin is a collector served over HTTP(S) instead of wasm, for
// collectors that cannot be wasm (native libraries, database drivers).
// Timeout and MaxOutput of the collector bound the call and the answer.
type HTTPPlugin struct {
	URL         string
	Headers     map[string]Secret // header values may carry credentials
	BasicAuth   *BasicAuth
	BearerToken Secret
	TLS         TLS
}

// koanfDelim is the key delimiter given to koanf. koanf joins nested keys with
// it to build its flat key space (Get, Keys, Unmarshal), so a key containing the
// delimiter would be split into bogus levels: with the usual ".", a mount path
// like "/etc/app.d" or a plugin config key like "a.b" would be mangled. A YAML
// file cannot contain a raw NUL byte, so "\x00" cannot clash with a real key.
// (We read the nested tree with Raw, which koanf keeps unflattened, but the
// delimiter keeps any later use of the koanf instance safe too.)
const koanfDelim = "\x00"

// Load reads, parses and validates the configuration file at path.
// It reads the file with koanf's file provider, then parses it as [Parse] does.
// Relative paths in the file are resolved against the file's directory.
// On failure it returns an [*Error] listing every problem.
func Load(path string, opts Options) (*Config, error) {
	data, err := file.Provider(path).ReadBytes()
	if err != nil {
		name := path
		if name == "" {
			name = "config"
		}
		msg := err.Error()
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, &Error{File: name, cause: err, Problems: []Problem{{
			Message: fmt.Sprintf("cannot read the configuration file: %s; check the path and its permissions", msg),
		}}}
	}
	return Parse(data, path, opts)
}

// Parse parses and validates configuration data as if it were read from path.
// path is used in messages and to resolve relative paths; the file itself is
// not read. On failure it returns an [*Error] listing every problem.
func Parse(data []byte, path string, opts Options) (*Config, error) {
	name := path
	if name == "" {
		name = "config"
	}
	k := koanf.New(koanfDelim)
	tree := &yamlTree{}
	if err := k.Load(rawbytes.Provider(data), tree); err != nil {
		te := (*treeError)(nil)
		if !errors.As(err, &te) {
			return nil, &Error{File: name, cause: err, Problems: []Problem{{Message: "cannot load the configuration: " + err.Error()}}}
		}
		sortProblems(te.problems)
		return nil, &Error{File: name, Problems: te.problems}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &Error{File: name, cause: err, Problems: []Problem{{
			Message: fmt.Sprintf("cannot make the path absolute: %v", err),
		}}}
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ
	}
	if opts.Hostname == nil {
		opts.Hostname = os.Hostname
	}
	l := &loader{
		dir: filepath.Dir(abs),
		env: newEnv(opts),
	}
	cfg := l.config(k.Raw())
	if len(l.problems) > 0 {
		for i := range l.problems {
			l.problems[i].Line = lineOf(tree.lines, l.problems[i].Path)
		}
		sortProblems(l.problems)
		return nil, &Error{File: name, Problems: l.problems}
	}
	cfg.Path, cfg.lines = abs, tree.lines
	return cfg, nil
}
