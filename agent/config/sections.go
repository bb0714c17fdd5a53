package config

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/relabel"
)

// The declarations of every mapping in schedules.yaml, from the top down.
// Each key is declared once, here; see [field].

func code(s string) string { return "`" + s + "`" }

const (
	noDefault   = "—"
	requiredDef = "— (required)"
)

// root is the whole file.
type root struct {
	cfg      Config
	d        defaults
	jobsPath string
	jobs     []any
}

var rootSection = section[root]{what: "the configuration", fields: []field[root]{{
	// Required unless outputs is set: checkOutputs says so.
	name: "gateway", typ: "mapping", def: noDefault,
	sub: func() docSection { return &gatewaySection },
	set: func(l *loader, p string, v any, r *root) {
		g := gatewayDraft{g: Gateway{Timeout: DefaultGatewayTimeout}}
		if _, ok := gatewaySection.read(l, p, v, &g); ok {
			r.cfg.Gateway = l.checkGateway(p, &g)
		}
	},
}, outputsField, shardField, {
	name: "defaults", typ: "mapping", def: noDefault,
	sub: func() docSection { return &defaultsSection },
	set: func(l *loader, p string, v any, r *root) { defaultsSection.read(l, p, v, &r.d) },
}, {
	name: "jobs", typ: "list", def: requiredDef, list: true,
	required: "is required; add a list of jobs, each with a name, a schedule (every or cron) and collectors",
	sub:      func() docSection { return &jobSection },
	// The jobs are read after the whole file, once defaults are known,
	// wherever the defaults section is written.
	set: func(l *loader, p string, v any, r *root) {
		list := l.nonEmptyList(p, v, "jobs", "at least one job is required; add a job with a name, a schedule (every or cron) and collectors")
		r.jobsPath, r.jobs = p, list
	},
}}}

func (l *loader) config(raw map[string]any) *Config {
	tree, _ := l.expandTree("", raw).(map[string]any)
	r := root{d: defaults{
		method:      defaultMethod,
		timeout:     defaultTimeout,
		memoryLimit: defaultMemoryLimit,
		maxOutput:   DefaultMaxOutput,
		seriesLimit: defaultSeriesLimit,
	}}
	rootSection.read(l, "", tree, &r)
	seen := map[string]string{}
	for i, jv := range r.jobs {
		jp := indexPath(r.jobsPath, i)
		job, ok := l.job(jp, jv, r.d)
		if !ok {
			continue
		}
		if first, dup := seen[job.Name]; dup {
			l.add(jp+".name", "duplicate job name %s (also used by %s); each job is one group at the gateway, so give every job its own name", quote(job.Name), first)
			continue
		}
		seen[job.Name] = jp
		r.cfg.Jobs = append(r.cfg.Jobs, job)
	}
	l.checkOutputs(&r.cfg, tree["gateway"] != nil, seen)
	return &r.cfg
}

// auth is what a section with credentials (the gateway, an HTTP plugin)
// read of them; checkAuth ties the keys together.
type auth struct {
	basic             *BasicAuth
	token             Secret
	hasToken, hasFile bool
	tls               TLS
	tlsPath           string
	hasBasic, hasTLS  bool
}

// authFields declares basic_auth, bearer_token, bearer_token_file and tls
// for a section whose draft holds an auth.
func authFields[T any](a func(*T) *auth) []field[T] {
	return []field[T]{{
		name: "basic_auth", typ: "mapping", def: noDefault,
		sub: func() docSection { return &basicAuthSection },
		set: func(l *loader, p string, v any, dst *T) {
			var b basicDraft
			a(dst).hasBasic = true
			if _, ok := basicAuthSection.read(l, p, v, &b); ok {
				a(dst).basic = l.checkBasicAuth(p, &b)
			}
		},
	}, {
		name: "bearer_token", typ: "secret string", def: noDefault,
		set: func(l *loader, p string, v any, dst *T) {
			a(dst).hasToken = true
			a(dst).token, _ = l.secret(p, v)
		},
	}, {
		name: "bearer_token_file", typ: "path", def: noDefault,
		set: func(l *loader, p string, v any, dst *T) {
			a(dst).hasFile = true
			if !a(dst).hasToken {
				a(dst).token, _ = l.secretFile(p, v)
			}
		},
	}, {
		name: "tls", typ: "mapping", def: noDefault,
		sub: func() docSection { return &tlsSection },
		set: func(l *loader, p string, v any, dst *T) {
			a(dst).hasTLS, a(dst).tlsPath = true, p
			var t tlsDraft
			if _, ok := tlsSection.read(l, p, v, &t); ok {
				a(dst).tls = l.checkTLS(p, &t)
			}
		},
	}}
}

// endpoint is what a section that sends requests (the gateway, an HTTP
// plugin) reads besides its own keys: the URL and the credentials.
type endpoint struct {
	url   string
	https bool
	auth  auth
}

// endpointFields declares url, then the section's own keys, then the
// credential keys, for a section whose draft holds an endpoint; checkURL
// checks the URL and says if it is https.
func endpointFields[T any](e func(*T) *endpoint, required string, checkURL func(l *loader, p, s string) (string, bool), own ...field[T]) []field[T] {
	fields := []field[T]{{
		name: "url", typ: "string (URL)", def: requiredDef, required: required,
		set: func(l *loader, p string, v any, dst *T) {
			if s, ok := l.str(p, v); ok {
				e(dst).url, e(dst).https = checkURL(l, p, s)
			}
		},
	}}
	fields = append(fields, own...)
	return append(fields, authFields(func(dst *T) *auth { return &e(dst).auth })...)
}

// checkEndpoint checks the credential keys of the section at p together and
// returns whether a bearer token is set. notHTTPS is the message for tls
// with an http:// URL.
func (l *loader) checkEndpoint(p string, e *endpoint, notHTTPS string) bool {
	a := &e.auth
	if a.hasToken && a.hasFile {
		l.add(p, "set either bearer_token or bearer_token_file, not both")
		a.token = ""
	}
	if a.hasTLS && e.url != "" && !e.https {
		l.add(a.tlsPath, "%s", notHTTPS)
	}
	return a.hasToken || a.hasFile
}

// checkHeaderEndpoint checks an endpoint that also sends headers of the
// user's (an HTTP plugin, remote_write) and returns its bearer token: a
// request carries one Authorization header, so only one way to set it.
func (l *loader) checkHeaderEndpoint(p string, e *endpoint, headers map[string]Secret) Secret {
	hasToken := l.checkEndpoint(p, e, "applies only to https:// URLs; use https:// or remove tls")
	auths := 0
	for _, set := range []bool{e.auth.hasBasic, hasToken, hasHeader(headers, "Authorization")} {
		if set {
			auths++
		}
	}
	if auths > 1 {
		l.add(p, "set one of basic_auth, a bearer token or an Authorization header, not several; a request carries one Authorization header")
	}
	return e.auth.token
}

type gatewayDraft struct {
	g Gateway
	e endpoint
}

var gatewaySection = section[gatewayDraft]{what: "the gateway", fields: append(endpointFields(
	func(g *gatewayDraft) *endpoint { return &g.e },
	"is required; set the Pushgateway URL, like http://127.0.0.1:9091", (*loader).gatewayURL,
	field[gatewayDraft]{
		name: "timeout", typ: "duration", def: code(DefaultGatewayTimeout.String()),
		set: func(l *loader, p string, v any, g *gatewayDraft) { l.positiveDuration(p, v, &g.g.Timeout) },
	}), writeRuleFields(func(g *gatewayDraft) *WriteRules { return &g.g.WriteRules })...)}

func (l *loader) checkGateway(p string, d *gatewayDraft) Gateway {
	g := d.g
	g.URL, g.BasicAuth, g.TLS = d.e.url, d.e.auth.basic, d.e.auth.tls
	hasToken := l.checkEndpoint(p, &d.e, "applies only to https:// URLs, but url uses http://; use https:// or remove tls")
	g.BearerToken = d.e.auth.token
	if hasToken && d.e.auth.hasBasic {
		l.add(p, "set either basic_auth or a bearer token, not both; the gateway accepts one Authorization header")
	}
	return g
}

// basicDraft notes which password keys are set.
type basicDraft struct {
	a              BasicAuth
	hasPw, hasFile bool
}

var basicAuthSection = section[basicDraft]{what: "basic auth credentials", fields: []field[basicDraft]{{
	name: "username", typ: "string", def: noDefault, required: "is required for basic auth",
	set: func(l *loader, p string, v any, b *basicDraft) {
		b.a.Username, _ = l.nonEmpty(p, v, "set the user name")
	},
}, {
	name: "password", typ: "secret string", def: noDefault,
	set: func(l *loader, p string, v any, b *basicDraft) {
		b.hasPw = true
		b.a.Password, _ = l.secret(p, v)
	},
}, {
	name: "password_file", typ: "path", def: noDefault,
	set: func(l *loader, p string, v any, b *basicDraft) {
		b.hasFile = true
		if !b.hasPw {
			b.a.Password, _ = l.secretFile(p, v)
		}
	},
}}}

// checkBasicAuth ties password and password_file together.
func (l *loader) checkBasicAuth(p string, b *basicDraft) *BasicAuth {
	switch {
	case b.hasPw && b.hasFile:
		l.add(p, "set either password or password_file, not both")
		b.a.Password = ""
	case !b.hasPw && !b.hasFile:
		l.add(p, "needs a password: set password_file (preferred: keeps the secret out of the config) or password")
	}
	return &b.a
}

// tlsDraft notes which key files are set.
type tlsDraft struct {
	t               TLS
	hasCert, hasKey bool
}

var tlsSection = section[tlsDraft]{what: "TLS settings", fields: []field[tlsDraft]{
	tlsFile("ca_file", "system roots", func(t *tlsDraft) *string { return &t.t.CAFile }),
	tlsFile("cert_file", noDefault, func(t *tlsDraft) *string { t.hasCert = true; return &t.t.CertFile }),
	tlsFile("key_file", noDefault, func(t *tlsDraft) *string { t.hasKey = true; return &t.t.KeyFile }),
	{
		name: "server_name", typ: "string", def: "host of `url`",
		set: func(l *loader, p string, v any, t *tlsDraft) { t.t.ServerName, _ = l.str(p, v) },
	}, {
		name: "insecure_skip_verify", typ: "bool", def: code("false"),
		set: func(l *loader, p string, v any, t *tlsDraft) { t.t.InsecureSkipVerify, _ = l.boolean(p, v) },
	},
}}

func tlsFile(name, def string, dst func(*tlsDraft) *string) field[tlsDraft] {
	return field[tlsDraft]{name: name, typ: "path", def: def, set: func(l *loader, p string, v any, t *tlsDraft) {
		*dst(t), _ = l.regularFile(p, v, "file")
	}}
}

func (l *loader) checkTLS(p string, t *tlsDraft) TLS {
	if t.hasCert != t.hasKey {
		l.add(p, "cert_file and key_file must be set together (a client certificate needs its key)")
	}
	return t.t
}

// defaults are the values of the defaults: section, already validated.
type defaults struct {
	grouping    map[string]string
	method      string
	timeout     time.Duration
	timeoutAt   string // YAML path of defaults.timeout; "" when absent
	memoryLimit uint64
	maxOutput   int64
	seriesLimit int
	expireAfter time.Duration
}

var defaultsSection = section[defaults]{what: "defaults", fields: []field[defaults]{{
	name: "grouping", typ: "label map", def: code("{}"),
	set: func(l *loader, p string, v any, d *defaults) { d.grouping = l.grouping(p, v) },
}, {
	name: "method", typ: "`put` / `post`", def: code(defaultMethod),
	set: func(l *loader, p string, v any, d *defaults) { l.method(p, v, &d.method) },
}, {
	name: "timeout", typ: "duration", def: code(defaultTimeout.String()),
	set: func(l *loader, p string, v any, d *defaults) {
		l.positiveDuration(p, v, &d.timeout)
		d.timeoutAt = p
	},
}, {
	name: "memory_limit", typ: "size", def: code(formatSize(defaultMemoryLimit)),
	set: func(l *loader, p string, v any, d *defaults) {
		l.size(p, v, &d.memoryLimit, minMemoryLimit, maxMemoryLimit)
	},
}, {
	name: "max_output", typ: "size", def: code(formatSize(DefaultMaxOutput)),
	set: func(l *loader, p string, v any, d *defaults) {
		l.size64(p, v, &d.maxOutput, minMaxOutput, maxMaxOutput)
	},
}, {
	name: "series_limit", typ: "whole number", def: code(strconv.Itoa(defaultSeriesLimit)),
	set: func(l *loader, p string, v any, d *defaults) { l.count(p, v, &d.seriesLimit, 1, maxSeriesLimit) },
}, {
	name: "expire_after", typ: "duration", def: "`0s` (off)",
	set: func(l *loader, p string, v any, d *defaults) { l.expireAfter(p, v, &d.expireAfter) },
}}}

// jobDraft is a job while its keys are read.
type jobDraft struct {
	j          Job
	d          *defaults
	named      bool
	every      any
	everyPath  string
	cron       any
	cronPath   string
	jitter     any
	jitterPath string
	from       map[string]string // grouping label -> path it came from
	expireRaw  string
}

var jobSection = section[jobDraft]{what: "a job", fields: []field[jobDraft]{{
	name: "name", typ: "string", def: requiredDef,
	required: "is required; name the job (it becomes the job label at the gateway)",
	set: func(l *loader, p string, v any, j *jobDraft) {
		j.j.Name, j.named = l.nonEmpty(p, v, "name the job (it becomes the job label at the gateway)")
	},
}, {
	name: "every", typ: "duration", def: noDefault,
	set: func(l *loader, p string, v any, j *jobDraft) { j.every, j.everyPath = v, p },
}, {
	name: "cron", typ: "string", def: noDefault,
	set: func(l *loader, p string, v any, j *jobDraft) { j.cron, j.cronPath = v, p },
}, {
	name: "jitter", typ: "duration", def: code("0s"),
	set: func(l *loader, p string, v any, j *jobDraft) { j.jitter, j.jitterPath = v, p },
}, {
	name: "grouping", typ: "label map", def: code("{}"),
	set: func(l *loader, p string, v any, j *jobDraft) {
		g := l.grouping(p, v)
		maps.Copy(j.j.Grouping, g)
		for k := range g {
			j.from[k] = keyPath(p, k)
		}
	},
}, {
	name: "method", typ: "`put` / `post`", def: code("defaults.method"),
	set: func(l *loader, p string, v any, j *jobDraft) { l.method(p, v, &j.j.Method) },
}, {
	name: "delete_on_shutdown", typ: "bool", def: code("false"),
	set: func(l *loader, p string, v any, j *jobDraft) { j.j.DeleteOnShutdown, _ = l.boolean(p, v) },
}, {
	name: "expire_after", typ: "duration", def: code("defaults.expire_after"),
	set: func(l *loader, p string, v any, j *jobDraft) {
		j.expireRaw = l.expireAfter(p, v, &j.j.ExpireAfter)
	},
}, {
	name: "replicated", typ: "bool", def: code("false"),
	set: func(l *loader, p string, v any, j *jobDraft) { j.j.Replicated, _ = l.boolean(p, v) },
}, jobOutputsField, relabelField("relabel_configs", func(j *jobDraft) *[]*relabel.Config { return &j.j.RelabelConfigs },
	func(l *loader, p string, c *relabel.Config, j *jobDraft) { runLabelRule(l, p, c, &j.j) }), {
	name: "collectors", typ: "list", def: requiredDef, list: true, bare: true,
	required: "at least one collector is required; add collectors: with a name and a plugin",
	sub:      func() docSection { return &collectorSection },
	set: func(l *loader, p string, v any, j *jobDraft) {
		list := l.nonEmptyList(p, v, "collectors", "at least one collector is required; add a collector with a name and a plugin")
		seen := map[string]string{}
		for i, c := range list {
			ip := indexPath(p, i)
			col, ok := l.collector(ip, c, j.d, &j.j)
			if !ok {
				continue
			}
			if first, dup := seen[col.Name]; dup {
				l.add(ip+".name", "duplicate collector name %s (also used by %s); names must be unique within a job", quote(col.Name), first)
				continue
			}
			seen[col.Name] = ip
			j.j.Collectors = append(j.j.Collectors, col)
		}
	},
}}}

func (l *loader) job(p string, v any, d defaults) (Job, bool) {
	jd := jobDraft{
		j: Job{
			Method:      d.method,
			Grouping:    maps.Clone(d.grouping),
			ExpireAfter: d.expireAfter,
		},
		d:    &d,
		from: map[string]string{},
	}
	if jd.j.Grouping == nil {
		jd.j.Grouping = map[string]string{}
	}
	// Where each grouping value came from, to tell whether it varies per
	// replica (it referenced a variable).
	for k := range jd.j.Grouping {
		jd.from[k] = keyPath("defaults.grouping", k)
	}
	if _, ok := jobSection.read(l, p, v, &jd); !ok {
		return Job{}, false
	}
	j := &jd.j

	// Schedule. interval is the shortest time between runs, to bound jitter;
	// longest is the longest, to bound expire_after.
	var interval, longest time.Duration
	hasEvery, hasCron := jd.everyPath != "", jd.cronPath != ""
	switch {
	case hasEvery && hasCron:
		l.add(p, "set either every or cron, not both")
	case !hasEvery && !hasCron:
		l.add(p, `needs a schedule: set every (like 15s) or cron (like "*/5 * * * *")`)
	case hasEvery:
		if dur, raw, ok := l.duration(jd.everyPath, jd.every); ok {
			if dur < minEvery {
				l.add(jd.everyPath, "must be at least 1s, got %s", quote(raw))
			} else {
				j.Every, interval, longest = dur, dur, dur
			}
		}
	case hasCron:
		if s, ok := l.str(jd.cronPath, jd.cron); ok {
			j.Cron, interval, longest = l.cron(jd.cronPath, s)
		}
	}
	if jd.jitterPath != "" {
		if dur, raw, ok := l.duration(jd.jitterPath, jd.jitter); ok {
			switch {
			case dur < 0:
				l.add(jd.jitterPath, "must not be negative, got %s", quote(raw))
			case interval > 0 && dur >= interval && j.Cron != "":
				l.add(jd.jitterPath, "must be less than the shortest interval between runs of the cron schedule (%s), got %s", interval, quote(raw))
			case interval > 0 && dur >= interval:
				l.add(jd.jitterPath, "must be less than every (%s), got %s", interval, quote(raw))
			default:
				j.Jitter = dur
			}
		}
	}

	if j.Name != "" && strings.ContainsAny(j.Name, " \t") {
		l.add(p+".name", "%s contains white space, which the Pushgateway's URL scheme turns into '+' (client_golang escapes it so); use - or _", quote(j.Name))
	}
	for _, k := range slices.Sorted(maps.Keys(j.Grouping)) {
		if strings.ContainsAny(j.Grouping[k], " \t") {
			l.add(jd.from[k], "value %s contains white space, which the Pushgateway's URL scheme turns into '+'; use - or _", quote(j.Grouping[k]))
		}
	}
	if j.Replicated {
		varies := false
		for _, path := range jd.from {
			varies = varies || l.templated[path]
		}
		if !varies {
			l.add(p, "is replicated, but no grouping label tells the replicas apart, so they would overwrite each other's group; add one from the environment, like grouping: {instance: \"${HOSTNAME}\"}")
		}
	}
	l.checkExpireAfter(p, *j, longest, jd.expireRaw)
	return *j, jd.named
}

// collectorDraft is a collector while its keys are read.
type collectorDraft struct {
	c         Collector
	job       *Job
	named     bool
	hasHTTP   bool
	sandbox   []string // paths of keys that apply to wasm plugins only
	hasPlugin bool
}

// wasmOnly declares a key that applies to wasm plugins only.
func wasmOnly(f field[collectorDraft]) field[collectorDraft] {
	set := f.set
	f.set = func(l *loader, p string, v any, c *collectorDraft) {
		c.sandbox = append(c.sandbox, p)
		set(l, p, v, c)
	}
	return f
}

var collectorSection = section[collectorDraft]{what: "a collector", fields: []field[collectorDraft]{{
	name: "name", typ: "string", def: requiredDef,
	required: "is required; name the collector (it labels the collector's status series)",
	set: func(l *loader, p string, v any, c *collectorDraft) {
		c.c.Name, c.named = l.nonEmpty(p, v, "name the collector")
	},
}, {
	name: "plugin", typ: "path", def: noDefault,
	set: func(l *loader, p string, v any, c *collectorDraft) {
		c.hasPlugin = true
		c.c.Plugin, _ = l.regularFile(p, v, "plugin file")
	},
}, {
	name: "http", typ: "mapping", def: noDefault,
	sub: func() docSection { return &httpSection },
	set: func(l *loader, p string, v any, c *collectorDraft) {
		c.hasHTTP = true
		h := httpDraft{h: HTTPPlugin{Headers: map[string]Secret{}}}
		if _, ok := httpSection.read(l, p, v, &h); ok {
			c.c.HTTP = l.checkHTTP(p, &h)
		}
	},
}, {
	name: "config", typ: "any YAML", def: code("{}"),
	set: func(l *loader, p string, v any, c *collectorDraft) {
		b, err := json.Marshal(v)
		if err != nil {
			l.add(p, "cannot be handed to the plugin as JSON (%v); .nan and .inf have no JSON form, quote them", err)
			return
		}
		c.c.Config = b
	},
}, {
	name: "timeout", typ: "duration", def: "`defaults.timeout` (" + code(defaultTimeout.String()) + ")",
	set: func(l *loader, p string, v any, c *collectorDraft) {
		l.positiveDuration(p, v, &c.c.Timeout)
		c.c.TimeoutSetAt = p
	},
}, wasmOnly(field[collectorDraft]{
	name: "memory_limit", typ: "size", def: "`defaults.memory_limit` (" + code(formatSize(defaultMemoryLimit)) + ")",
	set: func(l *loader, p string, v any, c *collectorDraft) {
		l.size(p, v, &c.c.MemoryLimit, minMemoryLimit, maxMemoryLimit)
	},
}), {
	name: "max_output", typ: "size", def: "`defaults.max_output` (" + code(formatSize(DefaultMaxOutput)) + ")",
	set: func(l *loader, p string, v any, c *collectorDraft) {
		l.size64(p, v, &c.c.MaxOutput, minMaxOutput, maxMaxOutput)
	},
}, {
	name: "series_limit", typ: "whole number", def: "`defaults.series_limit` (" + code(strconv.Itoa(defaultSeriesLimit)) + ")",
	set: func(l *loader, p string, v any, c *collectorDraft) {
		l.count(p, v, &c.c.SeriesLimit, 1, maxSeriesLimit)
	},
}, {
	name: "labels", typ: "label map", def: code("{}"),
	set: func(l *loader, p string, v any, c *collectorDraft) {
		for name, val := range l.labels(p, v) {
			switch _, grouped := c.job.Grouping[name]; {
			case name == "job":
				l.add(keyPath(p, name), `"job" cannot be a collector label: the job's name is its job label; remove it`)
			case grouped:
				l.add(keyPath(p, name), "%s is a grouping label of job %s; a collector label must not override it, so rename or remove it", quote(name), quote(c.job.Name))
			default:
				c.c.Labels[name] = val
			}
		}
	},
}, wasmOnly(field[collectorDraft]{
	name: "mounts", typ: "map guest → host", def: "none",
	set: func(l *loader, p string, v any, c *collectorDraft) { c.c.Mounts = l.mounts(p, v) },
}), wasmOnly(field[collectorDraft]{
	name: "env", typ: "list of names", def: "none",
	set: func(l *loader, p string, v any, c *collectorDraft) { c.c.Env = l.envGrants(p, v) },
}), wasmOnly(field[collectorDraft]{
	name: "allow_hosts", typ: "list of strings", def: "none: **no network**",
	set: func(l *loader, p string, v any, c *collectorDraft) { c.c.AllowHosts = l.allowHosts(p, v) },
}), wasmOnly(field[collectorDraft]{
	name: "ca_file", typ: "path", def: "system roots",
	set: func(l *loader, p string, v any, c *collectorDraft) { c.c.CAFile, _ = l.regularFile(p, v, "CA file") },
}), wasmOnly(field[collectorDraft]{
	name: "max_response", typ: "size", def: code(formatSize(DefaultMaxResponse)),
	set: func(l *loader, p string, v any, c *collectorDraft) {
		l.size64(p, v, &c.c.MaxResponse, minMaxOutput, maxMaxOutput)
	},
}), relabelField("relabel_configs", func(c *collectorDraft) *[]*relabel.Config { return &c.c.RelabelConfigs },
	func(l *loader, p string, r *relabel.Config, c *collectorDraft) { runLabelRule(l, p, r, c.job) }),
}}

func (l *loader) collector(p string, v any, d *defaults, job *Job) (Collector, bool) {
	cd := collectorDraft{job: job, c: Collector{
		Config:      []byte("{}"),
		Timeout:     d.timeout,
		MemoryLimit: d.memoryLimit,
		MaxOutput:   d.maxOutput,
		SeriesLimit: d.seriesLimit,
		MaxResponse: DefaultMaxResponse,
		Labels:      map[string]string{},
		Mounts:      map[string]string{},
		Env:         map[string]string{},
	}}
	cd.c.TimeoutSetAt = d.timeoutAt
	if _, ok := collectorSection.read(l, p, v, &cd); !ok {
		return Collector{}, false
	}
	switch {
	case cd.hasPlugin && cd.hasHTTP:
		l.add(p, "set either plugin (a .wasm file) or http (an HTTP plugin endpoint), not both")
	case cd.hasHTTP:
		for _, kp := range cd.sandbox {
			l.add(kp, "applies to wasm plugins only; an http plugin runs outside the agent's sandbox")
		}
	case !cd.hasPlugin:
		l.add(keyPath(p, "plugin"), "is required; name the plugin's .wasm file, relative to the config file's directory (or set http: {url: ...} for an HTTP plugin)")
	}
	return cd.c, cd.named
}

// headersField declares headers: a mapping of header names to secret
// values, read into the map dst returns. example is a header like the ones
// expected; reserved are names (lower case) the agent sets itself, refused
// with the message ownsIt.
func headersField[T any](dst func(*T) map[string]Secret, example, ownsIt string, reserved ...string) field[T] {
	return field[T]{name: "headers", typ: "map name → secret string", def: code("{}"),
		set: func(l *loader, p string, v any, d *T) {
			m, isMap := v.(map[string]any)
			if !isMap {
				l.add(p, "expected a mapping of header names to values, like %s, got %s", example, describe(v))
			}
			for _, k := range slices.Sorted(maps.Keys(m)) {
				if slices.Contains(reserved, strings.ToLower(k)) {
					l.add(keyPath(p, k), "%s", ownsIt)
					continue
				}
				if s, ok := l.secret(keyPath(p, k), m[k]); ok {
					dst(d)[k] = s
				}
			}
		}}
}

type httpDraft struct {
	h HTTPPlugin
	e endpoint
}

var httpSection = section[httpDraft]{what: "an HTTP plugin", fields: endpointFields(
	func(h *httpDraft) *endpoint { return &h.e },
	"is required; set the plugin endpoint, like http://127.0.0.1:8080/collect", endpointURL("http://127.0.0.1:8080/collect", "basic_auth or a header"),
	headersField(func(h *httpDraft) map[string]Secret { return h.h.Headers }, "X-Api-Key: secret", ""),
)}

func (l *loader) checkHTTP(p string, d *httpDraft) *HTTPPlugin {
	h := d.h
	if h.Headers == nil {
		h.Headers = map[string]Secret{}
	}
	h.URL, h.BasicAuth, h.TLS = d.e.url, d.e.auth.basic, d.e.auth.tls
	h.BearerToken = l.checkHeaderEndpoint(p, &d.e, h.Headers)
	return &h
}
