package config

import (
	"fmt"
	"hash/fnv"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Output is one named destination of the jobs' runs: a Pushgateway or a
// remote-write receiver. Exactly one of Pushgateway and RemoteWrite is set.
type Output struct {
	Name        string
	Pushgateway *Gateway
	RemoteWrite *RemoteWrite
}

// RemoteWrite is a Prometheus remote-write receiver (Mimir, Thanos,
// Cortex, VictoriaMetrics, Prometheus itself).
type RemoteWrite struct {
	URL         string            // http:// or https://, without credentials
	Timeout     time.Duration     // per request; default 30s
	BasicAuth   *BasicAuth        // nil when not configured
	BearerToken Secret            // "" when not configured
	Headers     map[string]Secret // sent with every request, like X-Scope-OrgID
	TLS         TLS
	Buffer      Buffer
}

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
	defaultRemoteWriteTimeout = 30 * time.Second
	// defaultBufferMaxSize bounds the disk a remote_write output may fill
	// while its receiver is down: about a day of a 10,000-series job every
	// 15s, small enough for a sidecar's volume.
	defaultBufferMaxSize = 256 << 20
	minBufferMaxSize     = 1 << 20
	maxBufferMaxSize     = 1 << 40
)

var outputName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_-]*$`)

// outputs reads the gateway, outputs and shard sections of the root.
func (l *loader) outputs(root object, cfg *Config) {
	gv, gp, hasGateway := root.get("gateway")
	if hasGateway {
		cfg.Gateway = l.gateway(gp, gv)
	}
	ov, op, hasOutputs := root.get("outputs")
	if !hasGateway && !hasOutputs {
		l.add("gateway", "is required; add a gateway section with at least url: http://pushgateway:9091, or an outputs section")
	}
	if hasOutputs {
		m, ok := ov.(map[string]any)
		switch {
		case !ok:
			l.add(op, "expected a mapping of output names to outputs, like tsdb: {remote_write: {url: …}}, got %s", describe(ov))
		case len(m) == 0:
			l.add(op, "is empty; name at least one output, like gw: {pushgateway: {url: http://pushgateway:9091}}")
		}
		dirs := map[string]string{}
		for _, name := range slices.Sorted(maps.Keys(m)) {
			p := keyPath(op, name)
			switch {
			case !outputName.MatchString(name):
				l.add(p, "output name %s must start with a letter or _ and hold only letters, digits, _ and -", quote(name))
				continue
			case hasGateway && name == LegacyGatewayOutput:
				l.add(p, "the top-level gateway section is already the output named %q; rename this output or move the gateway section here", LegacyGatewayOutput)
				continue
			}
			o, ok := l.output(p, name, m[name])
			if !ok {
				continue
			}
			if rw := o.RemoteWrite; rw != nil && rw.Buffer.Dir != "" {
				if first, dup := dirs[rw.Buffer.Dir]; dup {
					l.add(keyPath(keyPath(keyPath(p, "remote_write"), "buffer"), "dir"), "is also the buffer of %s; each remote_write output needs its own directory", first)
				}
				dirs[rw.Buffer.Dir] = p
			}
			cfg.Outputs = append(cfg.Outputs, o)
		}
	}
	if v, p, ok := root.get("shard"); ok {
		cfg.Shard = l.shard(p, v)
	}
}

func (l *loader) output(p, name string, v any) (Output, bool) {
	o, ok := l.object(p, v, "an output (pushgateway or remote_write)", "pushgateway", "remote_write")
	if !ok {
		return Output{}, false
	}
	gv, gp, isGW := o.get("pushgateway")
	rv, rp, isRW := o.get("remote_write")
	out := Output{Name: name}
	switch {
	case isGW && isRW:
		l.add(p, "set either pushgateway or remote_write, not both; make two outputs to send to both")
		return out, false
	case isGW:
		gw := l.gateway(gp, gv)
		out.Pushgateway = &gw
	case isRW:
		out.RemoteWrite = l.remoteWrite(rp, rv)
	default:
		l.add(p, "needs a kind: pushgateway: {url: …} or remote_write: {url: …}")
		return out, false
	}
	return out, true
}

func (l *loader) remoteWrite(p string, v any) *RemoteWrite {
	o, ok := l.object(p, v, "a remote_write output", "url", "timeout", "basic_auth", "bearer_token", "bearer_token_file", "headers", "tls", "buffer")
	if !ok {
		return &RemoteWrite{}
	}
	rw := &RemoteWrite{Timeout: l.positiveDuration(o, "timeout", defaultRemoteWriteTimeout), Headers: map[string]Secret{}}
	https := false
	if v, up, ok := o.get("url"); !ok {
		l.add(up, "is required; set the receiver's remote-write URL, like http://mimir:9009/api/v1/push")
	} else if s, ok := l.str(up, v); ok {
		u, err := url.Parse(s)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			l.add(up, "expected an http:// or https:// URL, like http://mimir:9009/api/v1/push")
		case u.User != nil:
			l.add(up, "must not contain credentials; use basic_auth or bearer_token_file instead")
		default:
			rw.URL, https = s, u.Scheme == "https"
		}
	}
	if v, hp, ok := o.get("headers"); ok {
		m, isMap := v.(map[string]any)
		if !isMap {
			l.add(hp, "expected a mapping of header names to values, like X-Scope-OrgID: tenant-1, got %s", describe(v))
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			switch strings.ToLower(k) {
			case "content-type", "content-encoding", "x-prometheus-remote-write-version", "user-agent":
				l.add(keyPath(hp, k), "is set by the agent for the remote-write protocol; remove it")
				continue
			}
			if s, ok := l.secret(keyPath(hp, k), m[k]); ok {
				rw.Headers[k] = s
			}
		}
	}
	if v, bp, ok := o.get("basic_auth"); ok {
		rw.BasicAuth = l.basicAuth(bp, v)
	}
	var hasToken bool
	rw.BearerToken, hasToken = l.bearerToken(p, o)
	auths := 0
	for _, set := range []bool{o.m["basic_auth"] != nil, hasToken, hasHeader(rw.Headers, "Authorization")} {
		if set {
			auths++
		}
	}
	if auths > 1 {
		l.add(p, "set one of basic_auth, a bearer token or an Authorization header, not several; a request carries one Authorization header")
	}
	if v, tp, ok := o.get("tls"); ok {
		rw.TLS = l.tls(tp, v)
		if rw.URL != "" && !https {
			l.add(tp, "applies only to https:// URLs; use https:// or remove tls")
		}
	}
	bv, bp, ok := o.get("buffer")
	if !ok {
		l.add(bp, "is required; remote_write keeps what the receiver has not accepted yet on disk: set buffer: {dir: /var/lib/pushagent/<output>}")
		return rw
	}
	bo, ok := l.object(bp, bv, "the disk buffer", "dir", "max_size")
	if !ok {
		return rw
	}
	if v, dp, ok := bo.get("dir"); !ok {
		l.add(dp, "is required; name a directory the agent may write, like /var/lib/pushagent/tsdb (created if missing)")
	} else if s, ok := l.nonEmpty(dp, v, "name a directory the agent may write"); ok {
		rw.Buffer.Dir = l.resolve(s)
	}
	rw.Buffer.MaxSize = int64(l.size(bo, "max_size", defaultBufferMaxSize, minBufferMaxSize, maxBufferMaxSize))
	return rw
}

// shardIndex reads an index: a number, or a pod name of a StatefulSet
// ("pushagent-2"), whose ordinal is the number after the last '-'.
var podOrdinal = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?-([0-9]+)$`)

func (l *loader) shard(p string, v any) *Shard {
	o, ok := l.object(p, v, "the shard of this agent", "index", "count")
	if !ok {
		return nil
	}
	s := &Shard{Count: l.count(o, "count", 0, 1, 10000)}
	valid := s.Count > 0
	if _, cp, ok := o.get("count"); !ok {
		l.add(cp, "is required; set how many agents share the jobs, like count: 3")
	}
	iv, ip, _ := o.get("index")
	var idx int
	switch v := iv.(type) {
	case nil:
		l.add(ip, "is required; set this agent's index from 0 to count-1, or its StatefulSet pod name, like index: ${HOSTNAME}")
		return nil
	case int:
		idx = v
	case string:
		s := strings.TrimSpace(v)
		if n, err := strconv.Atoi(s); err == nil {
			idx = n
		} else if m := podOrdinal.FindStringSubmatch(s); m != nil {
			idx, _ = strconv.Atoi(m[2])
		} else {
			l.add(ip, "expected a number or a StatefulSet pod name ending in -<ordinal> like pushagent-2, got %s", quote(v))
			return nil
		}
	default:
		l.add(ip, "expected a number or a StatefulSet pod name like pushagent-2, got %s", describe(iv))
		return nil
	}
	if !valid {
		return nil
	}
	if idx < 0 || idx >= s.Count {
		l.add(ip, "must be from 0 to %d (count - 1), got %d; a pod name's ordinal counts too", s.Count-1, idx)
		return nil
	}
	s.Index = idx
	return s
}

// jobOutputs reads a job's outputs list; the names are checked against the
// declared outputs by checkJobOutputs, once all are known.
func (l *loader) jobOutputs(o object) []string {
	v, p, ok := o.get("outputs")
	if !ok {
		return nil
	}
	list, isList := v.([]any)
	if !isList || len(list) == 0 {
		l.add(p, "expected a non-empty list of output names, like outputs: [tsdb], got %s", describe(v))
		return nil
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
	return names
}

// checkJobOutputs reports job outputs that name no declared output; paths
// maps each job name to its YAML path.
func (l *loader) checkJobOutputs(cfg *Config, paths map[string]string) {
	var known []string
	for _, o := range cfg.AllOutputs() {
		known = append(known, o.Name)
	}
	for _, j := range cfg.Jobs {
		for i, name := range j.Outputs {
			if !slices.Contains(known, name) {
				l.add(indexPath(paths[j.Name]+".outputs", i), "names no output%s; the outputs are %s", suggest(name, known), strings.Join(known, ", "))
			}
		}
	}
}

// String describes the shard for logs and validate: "shard 2 of 3".
func (s *Shard) String() string {
	if s == nil {
		return "no shard"
	}
	return fmt.Sprintf("shard %d of %d", s.Index, s.Count)
}
