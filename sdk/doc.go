// Package sdk is what a pushagent collector plugin imports. A plugin is a
// small Go main package that the SDK turns into a WASI module the agent runs
// in a sandbox: the agent sends the collector's config, the plugin answers
// with metrics, and the agent merges and pushes them to a Pushgateway.
//
// A plugin registers one CollectFunc from init and calls Main from main:
//
//	package main
//
//	import (
//		"errors"
//
//		"github.com/pushagent/pushagent/sdk"
//	)
//
//	type config struct {
//		Greeting string  `json:"greeting"`
//		Value    float64 `json:"value"`
//	}
//
//	func init() { sdk.Register(collect) }
//
//	func main() { sdk.Main() }
//
//	func collect(c *sdk.Collection) error {
//		cfg := config{Greeting: "hello", Value: 1} // defaults
//		if err := c.DecodeConfig(&cfg); err != nil {
//			return err // unknown fields are errors, so typos fail loudly
//		}
//		if cfg.Value < 0 {
//			return errors.New("value must not be negative")
//		}
//		c.Logf("greeting %q", cfg.Greeting)
//		c.Gauge("example_value", "The value from the config.").Set(cfg.Value, "greeting", cfg.Greeting)
//		return nil
//	}
//
// Build it as a reactor, the form the agent keeps warm and calls once per
// collection:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o example.wasm .
//
// or as a command, a fresh instance per collection (slower; for hosts or
// tools that only run _start):
//
//	GOOS=wasip1 GOARCH=wasm go build -tags pushagent_command -o example.wasm .
//
// The tag matters: it leaves out the pushagent_collect export, and the agent
// treats any module exporting it as a reactor, which a Go command is not.
//
// Natively the same package is an ordinary program that reads the config on
// stdin, and its tests call Collect, which runs the registered function
// in-process and returns the output.
//
// # What a plugin has
//
// The builders (Counter, Gauge, Untyped, Histogram, Summary) add series the
// plugin computed. ParseText reads exposition text the plugin relays, such
// as a *.prom file or a scraped /metrics, into Families it can filter,
// relabel and merge before AddFamily adds them. Logger, Logf and Warnf log
// to stderr, which the agent forwards to its own log. Package httpcall
// makes HTTP requests through the agent, which decides what a plugin may
// reach.
//
// # What the SDK costs a plugin
//
// Every plugin carries what the SDK links, in module size, compile time and
// the time of each call. The SDK therefore uses nothing but small parts of
// the standard library (encoding/json, fmt, strconv, sort): no net/http, no
// log/slog, no protobuf or Prometheus libraries. Its text writer produces
// the bytes prometheus/common/expfmt would, and its parser accepts what the
// agent's parser accepts, without linking either. It must stay so: a new
// import here makes every plugin bigger.
//
// The time of a call is mostly the SDK's too, and Go compiled to wasm runs
// every call, branch and allocation several times slower than natively.
// So the hot paths are written for wasm: a warm reactor instance passes
// its arenas and output buffer on from run to run (never their content),
// label names a builder repeats are checked once, values are scanned a
// word at a time, common values are spelled without strconv's general
// algorithm, and a config of plain fields is decoded without
// encoding/json's reflection. Each of these gives the same bytes, errors
// and results as the general path it shortcuts, which the tests compare
// against; a warm call of the 20-series benchmark collector costs about
// what the same lines written by hand do (internal/sdkcheck's
// BenchmarkReactorCall measures both).
//
// # Plugin ABI v1
//
// The reactor exports pushagent_collect () -> i32, which the SDK implements:
// per call it reads the config (JSON) from stdin to EOF, runs the CollectFunc,
// writes Prometheus text format 0.0.4 to stdout and returns 0, or writes the
// error to stderr, nothing to stdout, and returns 1. The command form does
// the same once from _start and exits with 0 or 1. While the CollectFunc
// runs, os.Stdout points at stderr, so that a stray fmt.Println becomes a
// log line instead of corrupting the exposition. Logs are logfmt lines on
// stderr, which the agent logs at their level; the last ERROR line is the
// reason a failed run gives. The module imports nothing but WASI, unless
// it uses package httpcall, which imports pushagent_v1.http_request and
// http_result.
//
// # What a plugin must never do
//
// A plugin must not exit (os.Exit, log.Fatal): in the reactor form that kills
// the warm instance. It must not leave goroutines running after its
// CollectFunc returns, since they only run while the host is calling in. And
// it must not rely on state between runs for correctness: the agent may
// replace an instance at any time, and the command form never keeps one.
//
// Output is canonical (families sorted by name, series by labels) so that a
// golden-file test of a plugin is exact. Metric and label names are checked
// against the classic Prometheus character set, which is all text format
// 0.0.4 can carry; a bad name fails the run with an error naming the metric.
package sdk
