package sdk_test

import (
	"fmt"
	"io"

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
	// decoding config: json: unknown field "site"
}
