package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	starjson "go.starlark.net/lib/json"
	starmath "go.starlark.net/lib/math"
	startime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/pushagent/pushagent/sdk"
)

// runKey is the thread-local key of the run a script executes for. The
// modules are package-level values shared by every run; their built-ins find
// the run's collection through the thread.
const runKey = "pushagent.run"

// run is what the built-ins of one script execution act on.
type run struct {
	c *sdk.Collection
}

func runOf(thread *starlark.Thread) *run { return thread.Local(runKey).(*run) }

// The names a script sees besides Starlark's universe (len, str, fail, ...).
var modules = starlark.StringDict{
	"http":    httpModule,
	"json":    starjson.Module,
	"log":     logModule,
	"math":    starmath.Module,
	"metrics": metricsModule,
	"struct":  starlark.NewBuiltin("struct", starlarkstruct.Make),
	"time":    startime.Module,
}

// isPredeclared tells the compiler which names a script may use; the values
// are bound per run, so compiled programs do not depend on them.
func isPredeclared(name string) bool {
	_, ok := modules[name]
	return ok || name == "vars"
}

func predeclared(vars *starlark.Dict) starlark.StringDict {
	d := make(starlark.StringDict, len(modules)+1)
	for k, v := range modules {
		d[k] = v
	}
	d["vars"] = vars
	return d
}

// decodeVars turns the config's vars into a dict with json.decode, so that
// vars and decoded HTTP bodies hold the same kinds of values.
func decodeVars(thread *starlark.Thread, raw json.RawMessage) (*starlark.Dict, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return starlark.NewDict(0), nil
	}
	v, err := starlark.Call(thread, starjson.Module.Members["decode"], starlark.Tuple{starlark.String(raw)}, nil)
	if err != nil {
		return nil, fmt.Errorf("config: vars: %w", err)
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("config: vars must be a JSON object, got %s", v.Type())
	}
	return d, nil
}

// metrics: every call adds one series through the SDK's builders, which
// validate it and fail the run on a mistake. Metric and label names are also
// checked here, with the same rule, so that the most common mistake fails at
// the script line that made it.
var metricsModule = &starlarkstruct.Module{
	Name: "metrics",
	Members: starlark.StringDict{
		"counter":   starlark.NewBuiltin("metrics.counter", metricValue),
		"gauge":     starlark.NewBuiltin("metrics.gauge", metricValue),
		"untyped":   starlark.NewBuiltin("metrics.untyped", metricValue),
		"histogram": starlark.NewBuiltin("metrics.histogram", metricHistogram),
		"summary":   starlark.NewBuiltin("metrics.summary", metricSummary),
	},
}

// metricValue implements metrics.counter, gauge and untyped:
// (name, value, labels={}, help="").
func metricValue(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		name, help string
		value      starlark.Value
		labels     *starlark.Dict
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "value", &value, "labels?", &labels, "help?", &help); err != nil {
		return nil, err
	}
	v, err := toFloat(value)
	if err != nil {
		return nil, fmt.Errorf("%s: value: %w", b.Name(), err)
	}
	pairs, err := labelPairs(name, labels)
	if err != nil {
		return nil, err
	}
	c := runOf(thread).c
	switch b.Name() {
	case "metrics.counter":
		if v < 0 {
			return nil, fmt.Errorf("metric %q: counter value %v is negative", name, v)
		}
		c.Counter(name, help).Set(v, pairs...)
	case "metrics.gauge":
		c.Gauge(name, help).Set(v, pairs...)
	default:
		c.Untyped(name, help).Set(v, pairs...)
	}
	return starlark.None, nil
}

// metricHistogram implements metrics.histogram(name, buckets, count, sum,
// labels={}, help=""), buckets mapping each upper bound to the cumulative
// count of observations up to it.
func metricHistogram(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		name, help string
		buckets    *starlark.Dict
		count, sum starlark.Value
		labels     *starlark.Dict
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "buckets", &buckets, "count", &count, "sum", &sum,
		"labels?", &labels, "help?", &help); err != nil {
		return nil, err
	}
	n, s, err := countAndSum(b, count, sum)
	if err != nil {
		return nil, err
	}
	bs := make(map[float64]uint64, buckets.Len())
	for _, item := range buckets.Items() {
		le, err := toBound(item[0])
		if err != nil {
			return nil, fmt.Errorf("%s: bucket %s: %w", b.Name(), item[0], err)
		}
		c, err := toCount(item[1])
		if err != nil {
			return nil, fmt.Errorf("%s: bucket %s: %w", b.Name(), item[0], err)
		}
		if math.IsInf(le, +1) {
			// The SDK writes the +Inf bucket from count; a given one must agree.
			if c != n {
				return nil, fmt.Errorf("%s: bucket +Inf has count %d, but count is %d", b.Name(), c, n)
			}
			continue
		}
		bs[le] = c
	}
	pairs, err := labelPairs(name, labels)
	if err != nil {
		return nil, err
	}
	runOf(thread).c.Histogram(name, help).Set(n, s, bs, pairs...)
	return starlark.None, nil
}

// metricSummary implements metrics.summary(name, quantiles, count, sum,
// labels={}, help=""), quantiles mapping each quantile in [0, 1] to its value.
func metricSummary(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		name, help string
		quantiles  *starlark.Dict
		count, sum starlark.Value
		labels     *starlark.Dict
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "quantiles", &quantiles, "count", &count, "sum", &sum,
		"labels?", &labels, "help?", &help); err != nil {
		return nil, err
	}
	n, s, err := countAndSum(b, count, sum)
	if err != nil {
		return nil, err
	}
	qs := make(map[float64]float64, quantiles.Len())
	for _, item := range quantiles.Items() {
		q, err := toBound(item[0])
		if err != nil {
			return nil, fmt.Errorf("%s: quantile %s: %w", b.Name(), item[0], err)
		}
		v, err := toFloat(item[1])
		if err != nil {
			return nil, fmt.Errorf("%s: quantile %s: %w", b.Name(), item[0], err)
		}
		qs[q] = v
	}
	pairs, err := labelPairs(name, labels)
	if err != nil {
		return nil, err
	}
	runOf(thread).c.Summary(name, help).Set(n, s, qs, pairs...)
	return starlark.None, nil
}

func countAndSum(b *starlark.Builtin, count, sum starlark.Value) (uint64, float64, error) {
	n, err := toCount(count)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: count: %w", b.Name(), err)
	}
	s, err := toFloat(sum)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: sum: %w", b.Name(), err)
	}
	return n, s, nil
}

// labelPairs checks the metric name and turns labels into the SDK's name,
// value pairs, in the dict's order. Values that are not strings are
// formatted with str(), so labels={"partition": 3} works.
func labelPairs(name string, labels *starlark.Dict) ([]string, error) {
	if !sdk.ValidMetricName(name) {
		return nil, fmt.Errorf("metric %q: invalid metric name; it must match [a-zA-Z_:][a-zA-Z0-9_:]*", name)
	}
	if labels == nil {
		return nil, nil
	}
	pairs := make([]string, 0, 2*labels.Len())
	for _, item := range labels.Items() {
		k, ok := starlark.AsString(item[0])
		if !ok {
			return nil, fmt.Errorf("metric %q: label names must be strings, got %s", name, item[0].Type())
		}
		if !sdk.ValidLabelName(k) {
			return nil, fmt.Errorf("metric %q: invalid label name %q; it must match [a-zA-Z_][a-zA-Z0-9_]*", name, k)
		}
		var v string
		switch x := item[1].(type) {
		case starlark.String:
			v = string(x)
		case starlark.Int, starlark.Float, starlark.Bool:
			v = x.String()
		default:
			return nil, fmt.Errorf("metric %q: label %q: value must be a string, number or bool, got %s", name, k, x.Type())
		}
		pairs = append(pairs, k, v)
	}
	return pairs, nil
}

// toFloat accepts an int or a float: JSON numbers decode to either.
func toFloat(v starlark.Value) (float64, error) {
	switch x := v.(type) {
	case starlark.Float:
		return float64(x), nil
	case starlark.Int:
		if f, ok := starlark.AsFloat(x); ok {
			return f, nil
		}
		return 0, fmt.Errorf("int %s is too large for a float", x)
	}
	return 0, fmt.Errorf("got %s, want int or float", v.Type())
}

// toCount accepts a non-negative int, or a float with an integral value, as
// JSON producers sometimes write counts as 12.0.
func toCount(v starlark.Value) (uint64, error) {
	switch x := v.(type) {
	case starlark.Int:
		if n, ok := x.Uint64(); ok {
			return n, nil
		}
		return 0, fmt.Errorf("%s is not a non-negative count", x)
	case starlark.Float:
		f := float64(x)
		if f >= 0 && f == math.Trunc(f) && f < 1<<64 {
			return uint64(f), nil
		}
		return 0, fmt.Errorf("%s is not a non-negative count", x)
	}
	return 0, fmt.Errorf("got %s, want int", v.Type())
}

// toBound accepts a number or a string holding one ("0.5", "+Inf"), since
// the keys of a decoded JSON object are always strings.
func toBound(v starlark.Value) (float64, error) {
	if s, ok := starlark.AsString(v); ok {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		return f, nil
	}
	return toFloat(v)
}

// log: log.info("msg", key=value, ...) logs through the SDK's logger, which
// the agent tags with job and collector.
var logModule = &starlarkstruct.Module{
	Name: "log",
	Members: starlark.StringDict{
		"debug": starlark.NewBuiltin("log.debug", logCall),
		"info":  starlark.NewBuiltin("log.info", logCall),
		"warn":  starlark.NewBuiltin("log.warn", logCall),
		"error": starlark.NewBuiltin("log.error", logCall),
	},
}

// logCall implements log.debug, info, warn and error: (msg, **attrs).
func logCall(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var msg starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, nil, 1, &msg); err != nil {
		return nil, err
	}
	keyvals := make([]any, 0, 2*len(kwargs))
	for _, kv := range kwargs {
		keyvals = append(keyvals, string(kv[0].(starlark.String)), logValue(kv[1]))
	}
	l := runOf(thread).c.Logger()
	switch b.Name() {
	case "log.debug":
		l.Debug(str(msg), keyvals...)
	case "log.info":
		l.Info(str(msg), keyvals...)
	case "log.warn":
		l.Warn(str(msg), keyvals...)
	default:
		l.Error(str(msg), keyvals...)
	}
	return starlark.None, nil
}

// logValue keeps numbers and booleans typed in the log line.
func logValue(v starlark.Value) any {
	switch x := v.(type) {
	case starlark.Bool:
		return bool(x)
	case starlark.Int:
		if n, ok := x.Int64(); ok {
			return n
		}
	case starlark.Float:
		return float64(x)
	}
	return str(v)
}

// str is Starlark's str(): strings unquoted, everything else as printed.
func str(v starlark.Value) string {
	if s, ok := starlark.AsString(v); ok {
		return s
	}
	return v.String()
}
