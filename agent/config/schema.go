package config

import (
	"encoding/json"
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
// hurting the host; see the package documentation.
const (
	defaultGatewayTimeout = 10 * time.Second
	defaultTimeout        = 5 * time.Second
	defaultMemoryLimit    = 32 << 20
	defaultMaxOutput      = 1 << 20
	defaultSeriesLimit    = 10000
	defaultMethod         = "put"

	minMemoryLimit = 64 << 10 // one wasm page
	maxMemoryLimit = 4 << 30  // the wasm32 address space
	minMaxOutput   = 1
	maxMaxOutput   = 1 << 30 // the agent buffers a run's output in memory
	maxSeriesLimit = 10_000_000
	minEvery       = time.Second
	maxSecretSize  = 64 << 10 // a secret file larger than this is the wrong file
	// defaultMaxResponse bounds one HTTP response a plugin receives, so a
	// plugin cannot make the agent buffer an endless body.
	defaultMaxResponse = 4 << 20
)

// defaults are the values of the defaults: section, already validated.
type defaults struct {
	grouping    map[string]string
	method      string
	timeout     time.Duration
	memoryLimit uint64
	maxOutput   int64
	seriesLimit int
	expireAfter time.Duration
}

func (l *loader) config(raw map[string]any) *Config {
	tree, _ := l.expandTree("", raw).(map[string]any)
	root, _ := l.object("", tree, "the configuration", "gateway", "outputs", "shard", "defaults", "jobs")
	cfg := &Config{}
	l.outputs(root, cfg)

	d := defaults{
		method:      defaultMethod,
		timeout:     defaultTimeout,
		memoryLimit: defaultMemoryLimit,
		maxOutput:   defaultMaxOutput,
		seriesLimit: defaultSeriesLimit,
	}
	if v, p, ok := root.get("defaults"); ok {
		d = l.defaults(p, v, d)
	}

	v, p, ok := root.get("jobs")
	list, isList := v.([]any)
	switch {
	case !ok:
		l.add("jobs", "is required; add a list of jobs, each with a name, a schedule (every or cron) and collectors")
	case !isList:
		l.add(p, "expected a list of jobs, got %s", describe(v))
	case len(list) == 0:
		l.add(p, "at least one job is required; add a job with a name, a schedule (every or cron) and collectors")
	}
	seen := map[string]string{}
	for i, jv := range list {
		jp := indexPath(p, i)
		job, ok := l.job(jp, jv, d)
		if !ok {
			continue
		}
		if first, dup := seen[job.Name]; dup {
			l.add(jp+".name", "duplicate job name %s (also used by %s); each job is one group at the gateway, so give every job its own name", quote(job.Name), first)
			continue
		}
		seen[job.Name] = jp
		cfg.Jobs = append(cfg.Jobs, job)
	}
	l.checkJobOutputs(cfg, seen)
	return cfg
}

func (l *loader) gateway(p string, v any) Gateway {
	o, ok := l.object(p, v, "the gateway", "url", "timeout", "basic_auth", "bearer_token", "bearer_token_file", "tls")
	if !ok {
		return Gateway{}
	}
	g := Gateway{Timeout: l.positiveDuration(o, "timeout", defaultGatewayTimeout)}

	https := false
	if v, p, ok := o.get("url"); !ok {
		l.add(p, "is required; set the Pushgateway URL, like http://127.0.0.1:9091")
	} else if s, ok := l.str(p, v); ok {
		g.URL, https = l.gatewayURL(p, s)
	}

	if v, p, ok := o.get("basic_auth"); ok {
		g.BasicAuth = l.basicAuth(p, v)
	}
	var hasToken bool
	g.BearerToken, hasToken = l.bearerToken(p, o)
	if hasToken && o.m["basic_auth"] != nil {
		l.add(p, "set either basic_auth or a bearer token, not both; the gateway accepts one Authorization header")
	}

	if v, p, ok := o.get("tls"); ok {
		g.TLS = l.tls(p, v)
		if g.URL != "" && !https {
			l.add(p, "applies only to https:// URLs, but url uses http://; use https:// or remove tls")
		}
	}
	return g
}

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

func (l *loader) basicAuth(p string, v any) *BasicAuth {
	o, ok := l.object(p, v, "basic auth credentials", "username", "password", "password_file")
	if !ok {
		return nil
	}
	a := &BasicAuth{}
	if v, up, ok := o.get("username"); !ok {
		l.add(up, "is required for basic auth")
	} else {
		a.Username, _ = l.nonEmpty(up, v, "set the user name")
	}
	pw, pwP, hasPw := o.get("password")
	file, fileP, hasFile := o.get("password_file")
	switch {
	case hasPw && hasFile:
		l.add(p, "set either password or password_file, not both")
	case hasPw:
		a.Password, _ = l.secret(pwP, pw)
	case hasFile:
		a.Password, _ = l.secretFile(fileP, file)
	default:
		l.add(p, "needs a password: set password_file (preferred: keeps the secret out of the config) or password")
	}
	return a
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
		l.add(p, "cannot read %s: %s", quote(fp), fileErr(err))
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
		l.add(p, "cannot read %s: %s", quote(fp), fileErr(err))
		return "", false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	switch {
	case err != nil:
		l.add(p, "cannot read %s: %s", quote(fp), fileErr(err))
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
		return "permission denied; make it readable by the agent's user"
	}
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		err = pe.Err
	}
	return err.Error()
}

func (l *loader) tls(p string, v any) TLS {
	o, ok := l.object(p, v, "TLS settings", "ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify")
	if !ok {
		return TLS{}
	}
	var t TLS
	files := []struct {
		key string
		dst *string
	}{{"ca_file", &t.CAFile}, {"cert_file", &t.CertFile}, {"key_file", &t.KeyFile}}
	for _, f := range files {
		if v, fp, ok := o.get(f.key); ok {
			*f.dst, _ = l.regularFile(fp, v, "file")
		}
	}
	if (o.m["cert_file"] == nil) != (o.m["key_file"] == nil) {
		l.add(p, "cert_file and key_file must be set together (a client certificate needs its key)")
	}
	if v, sp, ok := o.get("server_name"); ok {
		t.ServerName, _ = l.str(sp, v)
	}
	if v, bp, ok := o.get("insecure_skip_verify"); ok {
		t.InsecureSkipVerify, _ = l.boolean(bp, v)
	}
	return t
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
		l.add(p, "%s %s: %s", what, quote(fp), fileErr(err))
	case fi.IsDir():
		l.add(p, "%s is a directory, not a %s; name the file itself", quote(fp), what)
	case !fi.Mode().IsRegular():
		l.add(p, "%s is not a regular file; name a %s", quote(fp), what)
	default:
		return fp, true
	}
	return "", false
}

func (l *loader) defaults(p string, v any, d defaults) defaults {
	o, ok := l.object(p, v, "defaults", "grouping", "method", "timeout", "memory_limit", "max_output", "series_limit", "expire_after")
	if !ok {
		return d
	}
	if v, gp, ok := o.get("grouping"); ok {
		d.grouping = l.grouping(gp, v)
	}
	d.method = l.method(o, d.method)
	d.timeout = l.positiveDuration(o, "timeout", d.timeout)
	d.memoryLimit = l.size(o, "memory_limit", d.memoryLimit, minMemoryLimit, maxMemoryLimit)
	d.maxOutput = int64(l.size(o, "max_output", uint64(d.maxOutput), minMaxOutput, maxMaxOutput))
	d.seriesLimit = l.count(o, "series_limit", d.seriesLimit, 1, maxSeriesLimit)
	d.expireAfter, _, _ = l.expireAfter(o, d.expireAfter)
	return d
}

func (l *loader) method(o object, def string) string {
	v, p, ok := o.get("method")
	if !ok {
		return def
	}
	s, ok := l.str(p, v)
	if !ok {
		return def
	}
	switch m := strings.ToLower(s); m {
	case "put", "post":
		return m
	}
	l.add(p, "must be put (replace the group's metrics) or post (add to them), got %s", quote(s))
	return def
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

func (l *loader) job(p string, v any, d defaults) (Job, bool) {
	o, ok := l.object(p, v, "a job", "name", "every", "cron", "jitter", "grouping", "method", "delete_on_shutdown", "expire_after", "replicated", "outputs", "collectors")
	if !ok {
		return Job{}, false
	}
	j := Job{Method: l.method(o, d.method)}
	valid := true
	if v, np, ok := o.get("name"); !ok {
		l.add(np, "is required; name the job (it becomes the job label at the gateway)")
		valid = false
	} else if j.Name, ok = l.nonEmpty(np, v, "name the job (it becomes the job label at the gateway)"); !ok {
		valid = false
	}

	// Schedule. interval is the shortest time between runs, to bound jitter;
	// longest is the longest, to bound expire_after.
	var interval, longest time.Duration
	ev, evP, hasEvery := o.get("every")
	cv, cvP, hasCron := o.get("cron")
	switch {
	case hasEvery && hasCron:
		l.add(p, "set either every or cron, not both")
	case !hasEvery && !hasCron:
		l.add(p, `needs a schedule: set every (like 15s) or cron (like "*/5 * * * *")`)
	case hasEvery:
		if dur, raw, ok := l.duration(evP, ev); ok {
			if dur < minEvery {
				l.add(evP, "must be at least 1s, got %s", quote(raw))
			} else {
				j.Every, interval, longest = dur, dur, dur
			}
		}
	case hasCron:
		if s, ok := l.str(cvP, cv); ok {
			j.Cron, interval, longest = l.cron(cvP, s)
		}
	}

	if v, jp, ok := o.get("jitter"); ok {
		if dur, raw, ok := l.duration(jp, v); ok {
			switch {
			case dur < 0:
				l.add(jp, "must not be negative, got %s", quote(raw))
			case interval > 0 && dur >= interval && j.Cron != "":
				l.add(jp, "must be less than the shortest interval between runs of the cron schedule (%s), got %s", interval, quote(raw))
			case interval > 0 && dur >= interval:
				l.add(jp, "must be less than every (%s), got %s", interval, quote(raw))
			default:
				j.Jitter = dur
			}
		}
	}

	j.Grouping = maps.Clone(d.grouping)
	if j.Grouping == nil {
		j.Grouping = map[string]string{}
	}
	// Where each grouping value came from, to tell whether it varies per
	// replica (it referenced a variable).
	from := map[string]string{}
	for k := range j.Grouping {
		from[k] = keyPath("defaults.grouping", k)
	}
	gv, gp, hasGrouping := o.get("grouping")
	if hasGrouping {
		g := l.grouping(gp, gv)
		maps.Copy(j.Grouping, g)
		for k := range g {
			from[k] = keyPath(gp, k)
		}
	}
	if j.Name != "" && strings.ContainsAny(j.Name, " \t") {
		l.add(p+".name", "%s contains white space, which the Pushgateway's URL scheme turns into '+' (client_golang escapes it so); use - or _", quote(j.Name))
	}
	for _, k := range slices.Sorted(maps.Keys(j.Grouping)) {
		if strings.ContainsAny(j.Grouping[k], " \t") {
			l.add(from[k], "value %s contains white space, which the Pushgateway's URL scheme turns into '+'; use - or _", quote(j.Grouping[k]))
		}
	}
	if v, rp, ok := o.get("replicated"); ok {
		j.Replicated, _ = l.boolean(rp, v)
	}
	if j.Replicated {
		varies := false
		for _, path := range from {
			varies = varies || l.templated[path]
		}
		if !varies {
			l.add(p, "is replicated, but no grouping label tells the replicas apart, so they would overwrite each other's group; add one from the environment, like grouping: {instance: \"${HOSTNAME}\"}")
		}
	}
	if v, bp, ok := o.get("delete_on_shutdown"); ok {
		j.DeleteOnShutdown, _ = l.boolean(bp, v)
	}
	j.Outputs = l.jobOutputs(o)
	var expireRaw string
	j.ExpireAfter, expireRaw, _ = l.expireAfter(o, d.expireAfter)
	l.checkExpireAfter(p, j, longest, expireRaw)

	cv, cp, ok := o.get("collectors")
	list, isList := cv.([]any)
	switch {
	case !ok:
		l.add(cp, "at least one collector is required; add collectors: with a name and a plugin")
	case !isList:
		l.add(cp, "expected a list of collectors, got %s", describe(cv))
	case len(list) == 0:
		l.add(cp, "at least one collector is required; add a collector with a name and a plugin")
	}
	seen := map[string]string{}
	for i, c := range list {
		ip := indexPath(cp, i)
		col, ok := l.collector(ip, c, d, j)
		if !ok {
			continue
		}
		if first, dup := seen[col.Name]; dup {
			l.add(ip+".name", "duplicate collector name %s (also used by %s); names must be unique within a job", quote(col.Name), first)
			continue
		}
		seen[col.Name] = ip
		j.Collectors = append(j.Collectors, col)
	}
	return j, valid
}

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

func (l *loader) collector(p string, v any, d defaults, job Job) (Collector, bool) {
	o, ok := l.object(p, v, "a collector", "name", "plugin", "http", "config", "timeout", "memory_limit", "max_output",
		"series_limit", "labels", "mounts", "env", "allow_hosts", "ca_file", "max_response")
	if !ok {
		return Collector{}, false
	}
	c := Collector{
		Config:      []byte("{}"),
		Timeout:     l.positiveDuration(o, "timeout", d.timeout),
		MemoryLimit: l.size(o, "memory_limit", d.memoryLimit, minMemoryLimit, maxMemoryLimit),
		MaxOutput:   int64(l.size(o, "max_output", uint64(d.maxOutput), minMaxOutput, maxMaxOutput)),
		SeriesLimit: l.count(o, "series_limit", d.seriesLimit, 1, maxSeriesLimit),
		MaxResponse: int64(l.size(o, "max_response", defaultMaxResponse, minMaxOutput, maxMaxOutput)),
		Labels:      map[string]string{},
		Mounts:      map[string]string{},
		Env:         map[string]string{},
	}
	valid := true
	if v, np, ok := o.get("name"); !ok {
		l.add(np, "is required; name the collector (it labels the collector's status series)")
		valid = false
	} else if c.Name, ok = l.nonEmpty(np, v, "name the collector"); !ok {
		valid = false
	}
	pv, pp, hasPlugin := o.get("plugin")
	hv, hp, hasHTTP := o.get("http")
	switch {
	case hasPlugin && hasHTTP:
		l.add(p, "set either plugin (a .wasm file) or http (an HTTP plugin endpoint), not both")
	case hasPlugin:
		c.Plugin, _ = l.regularFile(pp, pv, "plugin file")
	case hasHTTP:
		c.HTTP = l.httpPlugin(hp, hv)
		for _, key := range []string{"mounts", "env", "memory_limit", "allow_hosts", "ca_file", "max_response"} {
			if _, kp, ok := o.get(key); ok {
				l.add(kp, "applies to wasm plugins only; an http plugin runs outside the agent's sandbox")
			}
		}
	default:
		l.add(pp, "is required; name the plugin's .wasm file, relative to the config file's directory (or set http: {url: ...} for an HTTP plugin)")
	}
	if v, ap, ok := o.get("allow_hosts"); ok {
		c.AllowHosts = l.allowHosts(ap, v)
	}
	if v, cp, ok := o.get("ca_file"); ok {
		c.CAFile, _ = l.regularFile(cp, v, "CA file")
	}
	if v, cp, ok := o.get("config"); ok {
		b, err := json.Marshal(v)
		if err != nil {
			l.add(cp, "cannot be handed to the plugin as JSON (%v); .nan and .inf have no JSON form, quote them", err)
		} else {
			c.Config = b
		}
	}
	if v, lp, ok := o.get("labels"); ok {
		for name, val := range l.labels(lp, v) {
			switch _, grouped := job.Grouping[name]; {
			case name == "job":
				l.add(keyPath(lp, name), `"job" cannot be a collector label: the job's name is its job label; remove it`)
			case grouped:
				l.add(keyPath(lp, name), "%s is a grouping label of job %s; a collector label must not override it, so rename or remove it", quote(name), quote(job.Name))
			default:
				c.Labels[name] = val
			}
		}
	}
	if v, mp, ok := o.get("mounts"); ok {
		c.Mounts = l.mounts(mp, v)
	}
	if v, ep, ok := o.get("env"); ok {
		c.Env = l.envGrants(ep, v)
	}
	return c, valid
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
			l.add(mp, "host directory %s: %s", quote(hp), fileErr(err))
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

// httpPlugin reads an HTTP plugin endpoint.
func (l *loader) httpPlugin(p string, v any) *HTTPPlugin {
	o, ok := l.object(p, v, "an HTTP plugin", "url", "headers", "basic_auth", "bearer_token", "bearer_token_file", "tls")
	if !ok {
		return nil
	}
	h := &HTTPPlugin{Headers: map[string]Secret{}}
	https := false
	if v, up, ok := o.get("url"); !ok {
		l.add(up, "is required; set the plugin endpoint, like http://127.0.0.1:8080/collect")
	} else if s, ok := l.str(up, v); ok {
		u, err := url.Parse(s)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			l.add(up, "expected an http:// or https:// URL, like http://127.0.0.1:8080/collect")
		case u.User != nil:
			l.add(up, "must not carry credentials; use basic_auth or a header")
		default:
			h.URL, https = s, u.Scheme == "https"
		}
	}
	if v, hp, ok := o.get("headers"); ok {
		m, isMap := v.(map[string]any)
		if !isMap {
			l.add(hp, "expected a mapping of header names to values, got %s", describe(v))
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if s, ok := l.secret(keyPath(hp, k), m[k]); ok {
				h.Headers[k] = s
			}
		}
	}
	if v, bp, ok := o.get("basic_auth"); ok {
		h.BasicAuth = l.basicAuth(bp, v)
	}
	var hasToken bool
	h.BearerToken, hasToken = l.bearerToken(p, o)
	auths := 0
	for _, set := range []bool{o.m["basic_auth"] != nil, hasToken, hasHeader(h.Headers, "Authorization")} {
		if set {
			auths++
		}
	}
	if auths > 1 {
		l.add(p, "set one of basic_auth, a bearer token or an Authorization header, not several; a request carries one Authorization header")
	}
	if v, tp, ok := o.get("tls"); ok {
		h.TLS = l.tls(tp, v)
		if h.URL != "" && !https {
			l.add(tp, "applies only to https:// URLs; use https:// or remove tls")
		}
	}
	return h
}

func hasHeader(h map[string]Secret, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// bearerToken reads bearer_token or bearer_token_file of o (at p); the bool
// says whether either key is set.
func (l *loader) bearerToken(p string, o object) (Secret, bool) {
	tok, tokP, hasTok := o.get("bearer_token")
	file, fileP, hasFile := o.get("bearer_token_file")
	var s Secret
	switch {
	case hasTok && hasFile:
		l.add(p, "set either bearer_token or bearer_token_file, not both")
	case hasTok:
		s, _ = l.secret(tokP, tok)
	case hasFile:
		s, _ = l.secretFile(fileP, file)
	}
	return s, hasTok || hasFile
}
