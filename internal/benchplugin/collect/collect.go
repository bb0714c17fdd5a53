// Package collect is the benchmark collector's logic, shared by the plugin
// (through the SDK) and the native baseline (through client_golang). It
// must never import client_golang: the plugin would link it. Value is the
// one source of the numbers both sides report.
package collect

import (
	"strconv"

	"github.com/pushagent/pushagent/sdk"
)

// Config is the benchmark collector's config.
type Config struct {
	Series int `json:"series"`
}

// Value is what series i reports; deterministic so outputs compare.
func Value(i int) float64 { return float64(i)*1.5 + 0.25 }

// Collect emits Config.Series gauge series (default 20).
func Collect(c *sdk.Collection) error {
	cfg := Config{Series: 20}
	if err := c.DecodeConfig(&cfg); err != nil {
		return err
	}
	g := c.Gauge("bench_value", "A benchmark gauge.")
	for i := 0; i < cfg.Series; i++ {
		g.Set(Value(i), "i", strconv.Itoa(i), "worker", "bench")
	}
	return nil
}
