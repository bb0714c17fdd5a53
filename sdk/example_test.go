package sdk_test

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pushagent/pushagent/sdk"
)

// A plugin's native test: Collect runs the registered function in-process,
// as the agent would run the wasm module.
func Example() {
	sdk.Register(func(c *sdk.Collection) error {
		var cfg struct {
			Sites []string `json:"sites"`
		}
		if err := c.DecodeConfig(&cfg); err != nil {
			return err
		}
		up := c.Gauge("site_up", "Whether the site answered.")
		for _, site := range cfg.Sites {
			up.Set(1, "site", site)
		}
		return nil
	})

	out, err := sdk.Collect([]byte(`{"sites": ["b.example", "a.example"]}`), io.Discard)
	if err != nil {
		fmt.Println(err)
	}
	fmt.Print(string(out))

	_, err = sdk.Collect([]byte(`{"site": "a.example"}`), io.Discard)
	fmt.Println(err)
	// Output:
	// # HELP site_up Whether the site answered.
	// # TYPE site_up gauge
	// site_up{site="a.example"} 1
	// site_up{site="b.example"} 1
	// sdk: decoding config: json: unknown field "site"
}

// A relaying plugin: parse text, keep what it wants, relabel, add. An
// invalid family is left out with an error that the plugin may log.
func ExampleParseText() {
	text := []byte(`# HELP jobs_total Jobs done.
# TYPE jobs_total counter
jobs_total{queue="mail"} 12 1700000000000
jobs_total{queue="sms"} 3
go_goroutines 17
# TYPE broken counter
broken -1
`)
	relay := func(c *sdk.Collection) error {
		fams, err := sdk.ParseText(text)
		if err != nil {
			return err // names the line
		}
		for _, f := range fams {
			if strings.HasPrefix(f.Name, "go_") {
				continue // keep only the application's own metrics
			}
			if n := f.DropTimestamps(); n > 0 {
				c.Logger().Warn("dropped sample timestamps", "metric", f.Name, "samples", n)
			}
			for i := range f.Samples {
				f.Samples[i].Labels = append(f.Samples[i].Labels, sdk.Label{Name: "source", Value: "batch"})
			}
			if err := c.AddFamily(f); err != nil {
				c.Logger().Warn("skipping metric", "err", err)
			}
		}
		return nil
	}
	// A test runs a function that is not the registered one like this.
	out, err := sdk.CollectFunc(relay).Collect(nil, os.Stdout)
	if err != nil {
		fmt.Println(err)
	}
	fmt.Print(string(out))
	// Output:
	// level=WARN msg="dropped sample timestamps" metric=jobs_total samples=1
	// level=WARN msg="skipping metric" err="sdk: metric \"broken\": counter value -1 is negative"
	// # HELP jobs_total Jobs done.
	// # TYPE jobs_total counter
	// jobs_total{queue="mail",source="batch"} 12
	// jobs_total{queue="sms",source="batch"} 3
}
