package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/robfig/cron/v3"
)

// Defaults, each chosen to keep an untrusted plugin or a stuck gateway from
// hurting the host; see the package documentation. The exported ones are
// also what a consumer given a zero value from code (a Gateway, Collector
// or RemoteWrite built rather than loaded) falls back to: this package
// owns each default, and no consumer repeats its value.
const (
	// DefaultGatewayTimeout bounds one request to a Pushgateway (push,
	// delete, sweep): gateway.timeout and an output's pushgateway.timeout.
	DefaultGatewayTimeout = 10 * time.Second
	// DefaultMaxOutput is defaults.max_output: the bytes a plugin may write
	// to stdout in one run.
	DefaultMaxOutput = 1 << 20
	// DefaultMaxResponse is a collector's max_response: it bounds one HTTP
	// response a plugin receives, so a plugin cannot make the agent buffer
	// an endless body.
	DefaultMaxResponse = 4 << 20
	// DefaultShutdownGrace is how long in-flight runs may take to finish
	// once the agent is told to stop: the default of run's --shutdown-grace
	// flag, which has no key in the file.
	DefaultShutdownGrace = 10 * time.Second

	defaultTimeout     = 5 * time.Second
	defaultMemoryLimit = 32 << 20
	defaultSeriesLimit = 10000
	defaultMethod      = "put"

	minMemoryLimit = 64 << 10 // one wasm page
	maxMemoryLimit = 4 << 30  // the wasm32 address space
	minMaxOutput   = 1
	maxMaxOutput   = 1 << 30 // the agent buffers a run's output in memory
	maxSeriesLimit = 10_000_000
	minEvery       = time.Second
	maxSecretSize  = 64 << 10 // a secret file larger than this is the wrong file
)

// gatewayURL checks the gateway URL. Messages never quote a URL that carries
// credentials.
func (l *loader) gatewayURL(p, s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil {
		shown := quote(s)
		if strings.Contains(s, "@") {
			shown = "a value that is not a URL"
		}
		l.add(p, "must be an http:// or https:// URL like http://127.0.0.1:9091, got %s", shown)
		return "", false
	}
	switch {
	case u.User != nil:
		l.add(p, "must not contain credentials; use gateway.basic_auth or gateway.bearer_token_file instead")
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		l.add(p, "must be an http:// or https:// URL like http://127.0.0.1:9091, got %s", quote(s))
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		l.add(p, "must not have a query or fragment; the agent appends /metrics/job/… to it, got %s", quote(s))
	default:
		return s, u.Scheme == "https"
	}
	return "", false
}

// secretFile reads a secret from a file named by v, relative to the config
// file's directory. The trailing newline is trimmed. Messages name the file,
// never its content.
func (l *loader) secretFile(p string, v any) (Secret, bool) {
	name, ok := l.nonEmpty(p, v, "name the file that holds the secret")
	if !ok {
		return "", false
	}
	fp := l.resolve(name)
	fi, err := os.Stat(fp)
	if err != nil {
		l.add(p, "cannot read %s: %s", quote(fp), pathErr(err, name))
		return "", false
	}
	// Only regular files: a FIFO or a device like /dev/zero could block or
	// never end.
	if !fi.Mode().IsRegular() {
		l.add(p, "%s is not a regular file; name the file that holds the secret", quote(fp))
		return "", false
	}
	f, err := os.Open(fp)
	if err != nil {
		l.add(p, "cannot read %s: %s", quote(fp), pathErr(err, name))
		return "", false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	switch {
	case err != nil:
		l.add(p, "cannot read %s: %s", quote(fp), pathErr(err, name))
		return "", false
	case len(b) > maxSecretSize:
		l.add(p, "%s is larger than %s; is it the right file?", quote(fp), formatSize(maxSecretSize))
		return "", false
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		l.add(p, "%s is empty; write the secret into it", quote(fp))
		return "", false
	}
	return Secret(s), true
}

// fileErr explains an error from os.Stat or os.Open without repeating the
// path (the message names it already) and says what to do.
func fileErr(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file; check the path (relative paths are resolved from the config file's directory)"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied; make it readable by the agent's user" + ownUID()
	}
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		err = pe.Err
	}
	return err.Error()
}

// pathErr is fileErr for a path as the config wrote it: the hint that
// relative paths are resolved from the config file's directory is for a
// relative path only; for an absolute one it points the wrong way.
func pathErr(err error, written string) string {
	if filepath.IsAbs(written) && errors.Is(err, fs.ErrNotExist) {
		return "no such file; check the path"
	}
	return fileErr(err)
}

// ownUID names the user the agent runs as, " (uid 65532)": a secret that
// root owns with mode 0600, mounted into the container image (which runs
// as 65532), then says whom to grant it. Root is not named (root is
// denied only where no mode helps, like a root-squashing NFS share), nor
// is a system without uids.
func ownUID() string {
	if uid := os.Geteuid(); uid > 0 {
		return fmt.Sprintf(" (uid %d)", uid)
	}
	return ""
}

// resolve makes a path from the config absolute, relative to the config
// file's directory, and cleans it.
func (l *loader) resolve(name string) string {
	if !filepath.IsAbs(name) {
		name = filepath.Join(l.dir, name)
	}
	return filepath.Clean(name)
}

// regularFile checks that v names an existing regular file and returns its
// absolute path.
func (l *loader) regularFile(p string, v any, what string) (string, bool) {
	name, ok := l.nonEmpty(p, v, "name the "+what)
	if !ok {
		return "", false
	}
	fp := l.resolve(name)
	fi, err := os.Stat(fp)
	switch {
	case err != nil:
		l.add(p, "%s %s: %s", what, quote(fp), pathErr(err, name))
	case fi.IsDir():
		l.add(p, "%s is a directory, not a %s; name the file itself", quote(fp), what)
	case !fi.Mode().IsRegular():
		l.add(p, "%s is not a regular file; name a %s", quote(fp), what)
	default:
		return fp, true
	}
	return "", false
}

// labels reads a mapping of label names to non-empty string values. Names
// must be valid in the classic Prometheus format (letters, digits, _), since
// grouping labels go into the Pushgateway URL and collector labels into
// exposition text that every Prometheus version accepts.
func (l *loader) labels(p string, v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok {
		l.add(p, "expected a mapping of label names to values, like {zone: a}, got %s", describe(v))
		return nil
	}
	out := make(map[string]string, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		lp := keyPath(p, name)
		switch {
		case !model.LegacyValidation.IsValidLabelName(name):
			l.add(lp, "invalid label name %s; use letters, digits and _, not starting with a digit", quote(name))
			continue
		case strings.HasPrefix(name, "__"):
			l.add(lp, "label names starting with __ are reserved for Prometheus; rename %s", quote(name))
			continue
		}
		val, ok := m[name].(string)
		switch {
		case !ok:
			l.add(lp, "expected a string label value, got %s; quote it", describe(m[name]))
			continue
		case val == "":
			l.add(lp, "label value must not be empty (an empty value removes the label); set a value or remove the label")
			continue
		}
		out[name] = val
	}
	return out
}

func (l *loader) grouping(p string, v any) map[string]string {
	g := l.labels(p, v)
	if _, ok := g["job"]; ok {
		l.add(keyPath(p, "job"), `"job" cannot be a grouping label: the job's name is its job label; remove it`)
		delete(g, "job")
	}
	return g
}

var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

const cronHint = `write 5 fields (minute hour day-of-month month day-of-week, like "*/5 * * * *") or 6 with leading seconds`

// cron validates a cron expression and returns it with the shortest and the
// longest interval between its runs (0 when invalid).
func (l *loader) cron(p, spec string) (string, time.Duration, time.Duration) {
	spec = strings.TrimSpace(spec)
	fields := strings.Fields(spec)
	if n := len(fields); n < 5 || n > 6 || strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		l.add(p, "invalid cron expression %s: %s", quote(spec), cronHint)
		return "", 0, 0
	}
	sched, err := parseCron(spec)
	if err != nil {
		l.add(p, "invalid cron expression %s: %v; %s", quote(spec), err, cronHint)
		return "", 0, 0
	}
	gap := shortestGap(sched)
	if gap == 0 {
		l.add(p, "cron expression %s never fires; check the day-of-month and month fields", quote(spec))
		return "", 0, 0
	}
	return spec, gap, longestGap(sched)
}

// parseCron parses with robfig/cron, turning a panic into an error: the
// parser has panicked on malformed input before, and a config file must never
// crash the agent.
func parseCron(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("cannot parse it")
		}
	}()
	return cronParser.Parse(spec)
}

// shortestGap returns the shortest time between consecutive runs among the
// first few after a fixed instant, or 0 if the schedule never fires.
func shortestGap(s cron.Schedule) time.Duration {
	t := s.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	if t.IsZero() {
		return 0
	}
	var gap time.Duration
	for range 16 {
		n := s.Next(t)
		if n.IsZero() {
			break
		}
		if d := n.Sub(t); gap == 0 || d < gap {
			gap = d
		}
		t = n
	}
	return gap
}

// mounts reads guest path -> host directory. Guest paths are WASI paths
// (always "/"-separated); host directories are resolved against the config
// file's directory and must exist.
func (l *loader) mounts(p string, v any) map[string]string {
	m, ok := v.(map[string]any)
	out := map[string]string{}
	if !ok {
		l.add(p, "expected a mapping of guest paths to host directories, like {/textfile: ./textfiles}, got %s", describe(v))
		return out
	}
	from := map[string]string{}
	for _, guest := range slices.Sorted(maps.Keys(m)) {
		mp := keyPath(p, guest)
		if !path.IsAbs(guest) {
			l.add(mp, "guest path %s must be absolute, like \"/data\"", quote(guest))
			continue
		}
		clean := path.Clean(guest)
		if other, dup := from[clean]; dup {
			l.add(mp, "guest path %s is mounted twice (also %s); keep one", quote(clean), quote(other))
			continue
		}
		from[clean] = guest
		host, ok := l.nonEmpty(mp, m[guest], "name the host directory to mount")
		if !ok {
			continue
		}
		hp := l.resolve(host)
		fi, err := os.Stat(hp)
		switch {
		case err != nil:
			l.add(mp, "host directory %s: %s", quote(hp), pathErr(err, host))
		case !fi.IsDir():
			l.add(mp, "host path %s is not a directory; mounts grant directories", quote(hp))
		default:
			out[clean] = hp
		}
	}
	return out
}

// envGrants reads the names of environment variables granted to a plugin and
// their values now, so a plugin sees the environment the agent started with.
func (l *loader) envGrants(p string, v any) map[string]string {
	out := map[string]string{}
	seen := map[string]bool{}
	list, ok := v.([]any)
	if !ok {
		l.add(p, "expected a list of environment variable names, like [API_TOKEN], got %s", describe(v))
		return out
	}
	for i, item := range list {
		ip := indexPath(p, i)
		name, ok := l.str(ip, item)
		switch {
		case !ok:
			continue
		case !validEnvName(name):
			l.add(ip, "invalid environment variable name %s; use letters, digits and _, not starting with a digit", quote(name))
			continue
		}
		if seen[name] {
			l.add(ip, "%s is granted twice; list it once", name)
			continue
		}
		seen[name] = true
		val, ok := l.env.vars[name]
		if !ok {
			l.add(ip, "environment variable %s is not set; set it in the agent's environment or remove the grant", name)
			continue
		}
		out[name] = val
	}
	return out
}

// allowHosts reads the hosts a plugin's http_request calls may reach:
// "host:port", "host", "*.example.com" or "*.example.com:443".
func (l *loader) allowHosts(p string, v any) []string {
	list, ok := v.([]any)
	if !ok {
		l.add(p, "expected a list of hosts, like [\"127.0.0.1:8080\", \"*.example.com\"], got %s", describe(v))
		return nil
	}
	var out []string
	for i, item := range list {
		ip := indexPath(p, i)
		s, ok := l.nonEmpty(ip, item, "name a host, like 127.0.0.1:8080")
		if !ok {
			continue
		}
		if err := checkAllowHost(s); err != nil {
			l.add(ip, "%s: %v", quote(s), err)
			continue
		}
		out = append(out, strings.ToLower(s))
	}
	return out
}

func checkAllowHost(s string) error {
	if strings.Contains(s, "/") {
		return errors.New("write a host or host:port, not a URL")
	}
	host, port := s, ""
	if h, pt, err := net.SplitHostPort(s); err == nil {
		host, port = h, pt
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not a number from 1 to 65535", port)
		}
	}
	name := strings.TrimPrefix(host, "*.")
	if name == "" || strings.Contains(name, "*") {
		return errors.New(`a wildcard is only allowed as a leading "*.", like *.example.com`)
	}
	if strings.ContainsAny(name, " @?#") {
		return errors.New("not a host name or IP address")
	}
	return nil
}

// endpointURL returns the URL check of an endpoint (see endpointFields):
// http:// or https:// with a host, and no credentials. example is a URL like
// the one expected; creds says where credentials go instead.
func endpointURL(example, creds string) func(l *loader, p, s string) (string, bool) {
	return func(l *loader, p, s string) (string, bool) {
		u, err := url.Parse(s)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			l.add(p, "expected an http:// or https:// URL, like %s", example)
		case u.User != nil:
			l.add(p, "must not contain credentials; use %s", creds)
		default:
			return s, u.Scheme == "https"
		}
		return "", false
	}
}

func hasHeader(h map[string]Secret, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}
