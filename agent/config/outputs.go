package config

import (
	"fmt"
	"hash/fnv"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Output is one named destination of the jobs' runs: a Pushgateway, a
// remote-write receiver or an OTLP receiver. Exactly one of Pushgateway,
// RemoteWrite and OTLP is set.
type Output struct {
	Name        string
	Pushgateway *Gateway
	RemoteWrite *RemoteWrite
	OTLP        *OTLP
}

// RemoteWrite is a Prometheus remote-write receiver (Mimir, Thanos,
// Cortex, VictoriaMetrics, Prometheus itself).
type RemoteWrite struct {
	URL         string            // http:// or https://, without credentials
	Timeout     time.Duration     // per request; default [DefaultRemoteWriteTimeout]
	BasicAuth   *BasicAuth        // nil when not configured
	BearerToken Secret            // "" when not configured
	Headers     map[string]Secret // sent with every request, like X-Scope-OrgID
	TLS         TLS
	Buffer      Buffer
	Queue       QueueConfig
	// Protocol is the remote-write version sent: "1.0" (default) or
	// "2.0". A 2.0 receiver answers 415 to a 1.0 request and the reverse.
	Protocol string
	WriteRules
}

// Remote-write protocol versions, as remote_write.protocol spells them.
const (
	RemoteWrite10 = "1.0"
	RemoteWrite20 = "2.0"
)

// OTLP is an OpenTelemetry receiver of OTLP/HTTP protobuf metrics (an
// OpenTelemetry Collector, VictoriaMetrics, Prometheus 3, a vendor's
// endpoint). It has the same disk buffer and retries as remote_write.
type OTLP struct {
	URL         string            // the metrics endpoint itself, like …/v1/metrics
	Timeout     time.Duration     // per request; default [DefaultOTLPTimeout]
	BasicAuth   *BasicAuth        // nil when not configured
	BearerToken Secret            // "" when not configured
	Headers     map[string]Secret // sent with every request
	TLS         TLS
	// Compression is "gzip" (default) or "none".
	Compression string
	Buffer      Buffer
	WriteRules
}

// QueueConfig is how a remote_write output retries, in the spelling of
// Prometheus' remote_write queue_config (only the keys that mean something
// for one sender reading a disk buffer).
type QueueConfig struct {
	// MinBackoff is the first wait after a failed request; each further
	// failure doubles it, up to MaxBackoff. The receiver's Retry-After
	// overrides it, within MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

// DefaultQueueConfig is Prometheus' own: after an outage, sending resumes
// within 5s of the receiver's return, and a receiver that is back is not
// flooded, since one sender makes one request at a time.
var DefaultQueueConfig = QueueConfig{MinBackoff: 30 * time.Millisecond, MaxBackoff: 5 * time.Second}

// Buffer is the on-disk queue of a remote_write output: what was collected
// but not yet accepted by the receiver.
type Buffer struct {
	Dir     string // absolute; the output's own directory
	MaxSize int64  // bytes; past it the oldest data is dropped
}

// Shard says which part of the jobs this agent runs, when several agents
// share one config (a StatefulSet): each job that is not replicated runs on
// exactly one of Count agents.
type Shard struct {
	Index, Count int
}

// Owns reports whether the agent of this shard runs the job named job:
// a rendezvous (highest random weight) hash of the job name over the
// shard indexes, so that changing Count moves only the jobs whose winner
// changed, about 1/Count of them.
func (s *Shard) Owns(job string) bool {
	if s == nil || s.Count <= 1 {
		return true
	}
	return ShardOf(job, s.Count) == s.Index
}

// ShardOf is the index of the shard, among count, that runs a job.
func ShardOf(job string, count int) int {
	best, bestW := 0, uint64(0)
	for i := range count {
		h := fnv.New64a()
		h.Write([]byte(job))
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(i)))
		// fnv's low bits mix poorly for short inputs; a final avalanche
		// (splitmix64's) spreads them before the comparison.
		w := mix64(h.Sum64())
		if i == 0 || w > bestW {
			best, bestW = i, w
		}
	}
	return best
}

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Owned reports whether this agent runs job j: every job without a shard,
// replicated jobs on every shard, the others on the shard their name
// hashes to.
func (c *Config) Owned(j Job) bool {
	return j.Replicated || c.Shard.Owns(j.Name)
}

// AllOutputs lists the outputs in name order. The top-level gateway
// section is the output "gateway"; a config without any output section
// (as tests build them) still has that one.
func (c *Config) AllOutputs() []Output {
	out := slices.Clone(c.Outputs)
	if c.Gateway.URL != "" || len(c.Outputs) == 0 {
		gw := c.Gateway
		out = append(out, Output{Name: LegacyGatewayOutput, Pushgateway: &gw})
	}
	slices.SortFunc(out, func(a, b Output) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// OutputsOf lists the names of the outputs job j delivers to.
func (c *Config) OutputsOf(j Job) []string {
	if j.Outputs != nil {
		return j.Outputs
	}
	var names []string
	for _, o := range c.AllOutputs() {
		names = append(names, o.Name)
	}
	return names
}

// LegacyGatewayOutput is the name of the output the top-level gateway
// section defines.
const LegacyGatewayOutput = "gateway"

const (
	// DefaultRemoteWriteTimeout bounds one remote_write request.
	DefaultRemoteWriteTimeout = 30 * time.Second
	// DefaultOTLPTimeout bounds one OTLP request; it is the OpenTelemetry exporters' default.
	DefaultOTLPTimeout = 10 * time.Second
	// defaultOTLPCompression is the OpenTelemetry exporters' default too:
	// metrics compress several times over, and every receiver takes gzip.
	defaultOTLPCompression = "gzip"
	// DefaultBufferMaxSize bounds the disk a remote_write output may fill
	// while its receiver is down: about a day of a 10,000-series job every
	// 15s, small enough for a sidecar's volume.
	DefaultBufferMaxSize = 256 << 20
	minBufferMaxSize     = 1 << 20
	maxBufferMaxSize     = 1 << 40
)

var outputName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_-]*$`)

// The keys of this file, declared as the others are (see [field]): the
// root's outputs and shard, an output, a remote_write output and its
// buffer, a shard, and a job's outputs.

var outputsField = field[root]{
	name: "outputs", typ: "mapping", def: noDefault,
	sub: func() docSection { return outputNames{} },
	set: func(l *loader, p string, v any, r *root) {
		m, ok := v.(map[string]any)
		switch {
		case !ok:
			l.add(p, "expected a mapping of output names to outputs, like tsdb: {remote_write: {url: …}}, got %s", describe(v))
		case len(m) == 0:
			l.add(p, "is empty; name at least one output, like gw: {pushgateway: {url: http://pushgateway:9091}}")
		}
		dirs := map[string]string{}
		for _, name := range slices.Sorted(maps.Keys(m)) {
			op := keyPath(p, name)
			if !outputName.MatchString(name) {
				l.add(op, "output name %s must start with a letter or _ and hold only letters, digits, _ and -", quote(name))
				continue
			}
			o := Output{Name: name}
			if _, ok := outputSection.read(l, op, m[name], &o); !ok {
				continue
			}
			var kinds []string
			for kind, set := range map[string]bool{"pushgateway": o.Pushgateway != nil, "remote_write": o.RemoteWrite != nil, "otlp": o.OTLP != nil} {
				if set {
					kinds = append(kinds, kind)
				}
			}
			slices.Sort(kinds)
			switch {
			case len(kinds) == 2:
				l.add(op, "set either %s or %s, not both; make two outputs to send to both", kinds[0], kinds[1])
				continue
			case len(kinds) > 2:
				l.add(op, "set one of %s, not several; make one output for each", strings.Join(kinds, ", "))
				continue
			case len(kinds) == 0:
				l.add(op, "needs a kind: pushgateway: {url: …}, remote_write: {url: …} or otlp: {url: …}")
				continue
			}
			var buf *Buffer
			switch {
			case o.RemoteWrite != nil:
				buf = &o.RemoteWrite.Buffer
			case o.OTLP != nil:
				buf = &o.OTLP.Buffer
			}
			if buf != nil && buf.Dir != "" {
				if first, dup := dirs[buf.Dir]; dup {
					l.add(keyPath(keyPath(keyPath(op, kinds[0]), "buffer"), "dir"), "is also the buffer of %s; each remote_write or otlp output needs its own directory", first)
				}
				dirs[buf.Dir] = op
			}
			r.cfg.Outputs = append(r.cfg.Outputs, o)
		}
	},
}

// outputNames documents outputs' keys under the placeholder <name>.
type outputNames struct{}

func (outputNames) docFields() []docField {
	return []docField{{name: "<name>", typ: "mapping", def: noDefault, sub: func() docSection { return &outputSection }}}
}

var outputSection = section[Output]{what: "an output (pushgateway, remote_write or otlp)", fields: []field[Output]{{
	name: "pushgateway", typ: "mapping", def: noDefault,
	sub: func() docSection { return &gatewaySection },
	set: func(l *loader, p string, v any, o *Output) {
		g := gatewayDraft{g: Gateway{Timeout: DefaultGatewayTimeout}}
		if _, ok := gatewaySection.read(l, p, v, &g); ok {
			gw := l.checkGateway(p, &g)
			o.Pushgateway = &gw
		}
	},
}, {
	name: "remote_write", typ: "mapping", def: noDefault,
	sub: func() docSection { return &remoteWriteSection },
	set: func(l *loader, p string, v any, o *Output) {
		d := rwDraft{rw: RemoteWrite{Timeout: DefaultRemoteWriteTimeout, Headers: map[string]Secret{}, Buffer: Buffer{MaxSize: DefaultBufferMaxSize}, Protocol: RemoteWrite10, Queue: DefaultQueueConfig}}
		if _, ok := remoteWriteSection.read(l, p, v, &d); ok {
			o.RemoteWrite = l.checkRemoteWrite(p, &d)
		} else {
			o.RemoteWrite = &RemoteWrite{}
		}
	},
}, {
	name: "otlp", typ: "mapping", def: noDefault,
	sub: func() docSection { return &otlpSection },
	set: func(l *loader, p string, v any, o *Output) {
		d := otlpDraft{o: OTLP{Timeout: DefaultOTLPTimeout, Headers: map[string]Secret{}, Compression: defaultOTLPCompression, Buffer: Buffer{MaxSize: DefaultBufferMaxSize}}}
		if _, ok := otlpSection.read(l, p, v, &d); ok {
			o.OTLP = l.checkOTLP(p, &d)
		} else {
			o.OTLP = &OTLP{}
		}
	},
}}}

type rwDraft struct {
	rw RemoteWrite
	e  endpoint
}

var remoteWriteSection = section[rwDraft]{what: "a remote_write output", fields: append(endpointFields(
	func(d *rwDraft) *endpoint { return &d.e },
	"is required; set the receiver's remote-write URL, like http://mimir:9009/api/v1/push", endpointURL("http://mimir:9009/api/v1/push", "basic_auth or bearer_token_file instead"),
	field[rwDraft]{
		name: "timeout", typ: "duration", def: code(DefaultRemoteWriteTimeout.String()),
		set: func(l *loader, p string, v any, d *rwDraft) { l.positiveDuration(p, v, &d.rw.Timeout) },
	},
	headersField(func(d *rwDraft) map[string]Secret { return d.rw.Headers }, "X-Scope-OrgID: tenant-1",
		"is set by the agent for the remote-write protocol; remove it",
		"content-type", "content-encoding", "x-prometheus-remote-write-version", "user-agent"),
	bufferField("remote_write", func(d *rwDraft) *Buffer { return &d.rw.Buffer }),
	field[rwDraft]{
		name: "queue_config", typ: "mapping", def: noDefault,
		sub: func() docSection { return &queueSection },
		set: func(l *loader, p string, v any, d *rwDraft) {
			if _, ok := queueSection.read(l, p, v, &d.rw.Queue); ok && d.rw.Queue.MinBackoff > d.rw.Queue.MaxBackoff {
				l.add(keyPath(p, "min_backoff"), "%v is more than max_backoff %v; the wait grows from min_backoff to max_backoff", d.rw.Queue.MinBackoff, d.rw.Queue.MaxBackoff)
			}
		},
	},
	field[rwDraft]{
		name: "protocol", typ: "`\"1.0\"` / `\"2.0\"`", def: code(`"` + RemoteWrite10 + `"`),
		set: func(l *loader, p string, v any, d *rwDraft) {
			switch s := protocolString(v); s {
			case RemoteWrite10, RemoteWrite20:
				d.rw.Protocol = s
			default:
				l.add(p, "must be \"1.0\" (Prometheus' remote write 1.0, which every receiver takes) or \"2.0\" (with metadata and created timestamps; Prometheus 3 and recent receivers), got %s", describe(v))
			}
		},
	}), writeRuleFields(func(d *rwDraft) *WriteRules { return &d.rw.WriteRules })...)}

// protocolString reads a protocol version, which YAML gives as a number
// when unquoted (protocol: 2.0).
func protocolString(v any) string {
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v)
	case float64:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case int:
		return strconv.Itoa(v) + ".0"
	}
	return ""
}

type otlpDraft struct {
	o OTLP
	e endpoint
}

// otlpSection mirrors remoteWriteSection: the same endpoint, headers and
// disk buffer, with the compression OTLP/HTTP negotiates.
var otlpSection = section[otlpDraft]{what: "an otlp output", fields: append(endpointFields(
	func(d *otlpDraft) *endpoint { return &d.e },
	"is required; set the receiver's OTLP/HTTP metrics URL, like http://otel-collector:4318/v1/metrics", endpointURL("http://otel-collector:4318/v1/metrics", "basic_auth or bearer_token_file instead"),
	field[otlpDraft]{
		name: "timeout", typ: "duration", def: code(DefaultOTLPTimeout.String()),
		set: func(l *loader, p string, v any, d *otlpDraft) { l.positiveDuration(p, v, &d.o.Timeout) },
	},
	headersField(func(d *otlpDraft) map[string]Secret { return d.o.Headers }, "X-Scope-OrgID: tenant-1",
		"is set by the agent for the OTLP protocol; remove it",
		"content-type", "content-encoding", "user-agent"),
	field[otlpDraft]{
		name: "compression", typ: "`gzip` / `none`", def: code(defaultOTLPCompression),
		set: func(l *loader, p string, v any, d *otlpDraft) {
			s, ok := l.str(p, v)
			if !ok {
				return
			}
			switch c := strings.ToLower(strings.TrimSpace(s)); c {
			case "gzip", "none":
				d.o.Compression = c
			default:
				l.add(p, "must be gzip or none, got %s", quote(s))
			}
		},
	},
	bufferField("otlp", func(d *otlpDraft) *Buffer { return &d.o.Buffer })), writeRuleFields(func(d *otlpDraft) *WriteRules { return &d.o.WriteRules })...)}

func (l *loader) checkOTLP(p string, d *otlpDraft) *OTLP {
	o := d.o
	o.URL, o.BasicAuth, o.TLS = d.e.url, d.e.auth.basic, d.e.auth.tls
	o.BearerToken = l.checkHeaderEndpoint(p, &d.e, o.Headers)
	return &o
}

var queueSection = section[QueueConfig]{what: "the queue_config", fields: []field[QueueConfig]{{
	name: "min_backoff", typ: "duration", def: code(DefaultQueueConfig.MinBackoff.String()),
	set: func(l *loader, p string, v any, q *QueueConfig) { l.positiveDuration(p, v, &q.MinBackoff) },
}, {
	name: "max_backoff", typ: "duration", def: code(DefaultQueueConfig.MaxBackoff.String()),
	set: func(l *loader, p string, v any, q *QueueConfig) { l.positiveDuration(p, v, &q.MaxBackoff) },
}}}

// bufferField declares the buffer of an output that keeps on disk what its
// receiver has not accepted yet; output names the output in the message
// when buffer is missing.
func bufferField[T any](output string, dst func(*T) *Buffer) field[T] {
	return field[T]{
		name: "buffer", typ: "mapping", def: requiredDef,
		required: "is required; " + output + " keeps what the receiver has not accepted yet on disk: set buffer: {dir: /var/lib/pushagent/<output>}",
		sub:      func() docSection { return &bufferSection },
		set:      func(l *loader, p string, v any, d *T) { bufferSection.read(l, p, v, dst(d)) },
	}
}

var bufferSection = section[Buffer]{what: "the disk buffer", fields: []field[Buffer]{{
	name: "dir", typ: "path", def: requiredDef,
	required: "is required; name a directory the agent may write, like /var/lib/pushagent/tsdb (created if missing)",
	set: func(l *loader, p string, v any, b *Buffer) {
		if s, ok := l.nonEmpty(p, v, "name a directory the agent may write"); ok {
			b.Dir = l.resolve(s)
		}
	},
}, {
	name: "max_size", typ: "size", def: code(formatSize(DefaultBufferMaxSize)),
	set: func(l *loader, p string, v any, b *Buffer) {
		l.size64(p, v, &b.MaxSize, minBufferMaxSize, maxBufferMaxSize)
	},
}}}

func (l *loader) checkRemoteWrite(p string, d *rwDraft) *RemoteWrite {
	rw := d.rw
	rw.URL, rw.BasicAuth, rw.TLS = d.e.url, d.e.auth.basic, d.e.auth.tls
	rw.BearerToken = l.checkHeaderEndpoint(p, &d.e, rw.Headers)
	return &rw
}

// podOrdinal is a StatefulSet pod name: its ordinal is the number after
// the last '-'.
var podOrdinal = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?-([0-9]+)$`)

// shardDraft holds the index as written until count is known.
type shardDraft struct {
	s        Shard
	idx      int
	idxPath  string
	hasIndex bool
}

var shardField = field[root]{
	name: "shard", typ: "mapping", def: noDefault,
	sub: func() docSection { return &shardSection },
	set: func(l *loader, p string, v any, r *root) {
		d := shardDraft{}
		if _, ok := shardSection.read(l, p, v, &d); !ok || !d.hasIndex || d.s.Count == 0 {
			return
		}
		if d.idx < 0 || d.idx >= d.s.Count {
			l.add(d.idxPath, "must be from 0 to %d (count - 1), got %d; a pod name's ordinal counts too", d.s.Count-1, d.idx)
			return
		}
		d.s.Index = d.idx
		r.cfg.Shard = &d.s
	},
}

var shardSection = section[shardDraft]{what: "the shard of this agent", fields: []field[shardDraft]{{
	name: "index", typ: "whole number or string", def: requiredDef,
	required: "is required; set this agent's index from 0 to count-1, or its StatefulSet pod name, like index: ${HOSTNAME}",
	set: func(l *loader, p string, v any, d *shardDraft) {
		d.idxPath = p
		switch v := v.(type) {
		case int:
			d.idx, d.hasIndex = v, true
		case string:
			s := strings.TrimSpace(v)
			if n, err := strconv.Atoi(s); err == nil {
				d.idx, d.hasIndex = n, true
			} else if m := podOrdinal.FindStringSubmatch(s); m != nil {
				d.idx, _ = strconv.Atoi(m[2])
				d.hasIndex = true
			} else {
				l.add(p, "expected a number or a StatefulSet pod name ending in -<ordinal> like pushagent-2, got %s", quote(v))
			}
		default:
			l.add(p, "expected a number or a StatefulSet pod name like pushagent-2, got %s", describe(v))
		}
	},
}, {
	name: "count", typ: "whole number", def: requiredDef,
	required: "is required; set how many agents share the jobs, like count: 3",
	set:      func(l *loader, p string, v any, d *shardDraft) { l.count(p, v, &d.s.Count, 1, 10000) },
}}}

// jobOutputsField is a job's outputs list; the names are checked against
// the declared outputs by checkOutputs, once all are known.
var jobOutputsField = field[jobDraft]{
	name: "outputs", typ: "list of output names", def: "every output",
	set: func(l *loader, p string, v any, j *jobDraft) {
		list, isList := v.([]any)
		if !isList || len(list) == 0 {
			l.add(p, "expected a non-empty list of output names, like outputs: [tsdb], got %s", describe(v))
			return
		}
		names := []string{}
		for i, e := range list {
			if s, ok := l.str(indexPath(p, i), e); ok {
				if slices.Contains(names, s) {
					l.add(indexPath(p, i), "output %s is listed twice", quote(s))
					continue
				}
				names = append(names, s)
			}
		}
		j.j.Outputs = names
	},
}

// checkOutputs ties the outputs to the rest once the file is read: some
// output is needed, the gateway section's name is taken, and every name a
// job lists must be declared. jobPaths maps each job name to its path.
func (l *loader) checkOutputs(cfg *Config, hasGateway bool, jobPaths map[string]string) {
	if !hasGateway && len(cfg.Outputs) == 0 && !l.reported("outputs") {
		l.add("gateway", "is required; add a gateway section with at least url: http://pushgateway:9091, or an outputs section")
	}
	if hasGateway {
		for _, o := range cfg.Outputs {
			if o.Name == LegacyGatewayOutput {
				l.add(keyPath("outputs", o.Name), "the top-level gateway section is already the output named %q; rename this output or move the gateway section here", LegacyGatewayOutput)
			}
		}
		cfg.Outputs = slices.DeleteFunc(cfg.Outputs, func(o Output) bool { return o.Name == LegacyGatewayOutput })
	}
	var known []string
	for _, o := range cfg.AllOutputs() {
		known = append(known, o.Name)
	}
	for _, j := range cfg.Jobs {
		for i, name := range j.Outputs {
			if !slices.Contains(known, name) {
				l.add(indexPath(jobPaths[j.Name]+".outputs", i), "names no output%s; the outputs are %s", suggest(name, known), strings.Join(known, ", "))
			}
		}
	}
}

// reported says whether a problem was reported at path or under it.
func (l *loader) reported(path string) bool {
	for _, p := range l.problems {
		if p.Path == path || strings.HasPrefix(p.Path, path+".") || strings.HasPrefix(p.Path, path+"[") {
			return true
		}
	}
	return false
}

// String describes the shard for logs and validate: "shard 2 of 3".
func (s *Shard) String() string {
	if s == nil {
		return "no shard"
	}
	return fmt.Sprintf("shard %d of %d", s.Index, s.Count)
}
