// Command example is the plugin shown in the sdk package documentation. The
// root module's internal/sdkcheck tests build it to wasm, in both the
// reactor and the command form, and drive it through wazero and the agent's
// own host, so the documented example is also the one proven to work. (They
// live there because the sdk module has no requirements, and wazero is one.)
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/pushagent/pushagent/sdk"
)

type config struct {
	Greeting string  `json:"greeting"`
	Value    float64 `json:"value"`
	// Fail and Panic let the tests check that a failed run leaves a reactor
	// instance usable for the next one.
	Fail  bool `json:"fail"`
	Panic bool `json:"panic"`
	// Print makes collect write to stdout itself, as a plugin author's
	// debugging fmt.Println does; the output must still parse.
	Print bool `json:"print"`
	// Read names a file to read; failing to read it fails the run, as a
	// path outside the collector's mounts does.
	Read string `json:"read"`
}

// runs survives between calls on a warm reactor instance and restarts at
// zero in every command run; the tests use it to tell the two apart.
var runs int

func init() { sdk.Register(collect) }

func main() { sdk.Main() }

func collect(c *sdk.Collection) error {
	cfg := config{Greeting: "hello", Value: 1}
	if err := c.DecodeConfig(&cfg); err != nil {
		return err
	}
	switch {
	case cfg.Fail:
		return errors.New("failing as configured")
	case cfg.Panic:
		panic("panicking as configured")
	}
	if cfg.Read != "" {
		if _, err := os.ReadFile(cfg.Read); err != nil {
			return fmt.Errorf("reading %s: %w", cfg.Read, err)
		}
	}
	if cfg.Print {
		fmt.Println("debug: collect called")
	}
	runs++
	c.Logf("run %d greets %q", runs, cfg.Greeting)
	c.Gauge("example_value", "The value from the config.").Set(cfg.Value, "greeting", cfg.Greeting)
	c.Counter("example_runs_total", "Successful runs of this plugin instance.").Set(float64(runs))
	return nil
}
