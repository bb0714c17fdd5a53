// Command lean is the floor that BenchmarkReactorCall (internal/sdkcheck)
// measures the SDK against: the benchmark collector's 20 lines written by
// hand with strconv after a plain json.Unmarshal of the config, as a
// reactor exporting pushagent_collect itself. It checks nothing and sorts
// nothing, so what the benchmark collector costs beyond it is the price of
// the SDK's guarantees.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o lean.wasm ./internal/benchplugin/lean
//
// It must never import the SDK: it is the floor the SDK is measured against.
package main

import (
	"encoding/json"
	"strconv"
)

func main() {}

// config and value are collect.Config and collect.Value, repeated: package
// collect links the SDK, whose pushagent_collect export would clash with
// this one. BenchmarkReactorCall checks that both plugins print the same
// last line.
type config struct {
	Series int `json:"series"`
}

func value(i int) float64 { return float64(i)*1.5 + 0.25 }

// collectText is the collector: config in, text out.
func collectText(configJSON []byte, out []byte) ([]byte, error) {
	cfg := config{Series: 20}
	if len(configJSON) > 0 {
		if err := json.Unmarshal(configJSON, &cfg); err != nil {
			return nil, err
		}
	}
	out = append(out, "# HELP bench_value A benchmark gauge.\n# TYPE bench_value gauge\n"...)
	for i := 0; i < cfg.Series; i++ {
		out = append(out, `bench_value{i="`...)
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, `",worker="bench"} `...)
		out = strconv.AppendFloat(out, value(i), 'g', -1, 64)
		out = append(out, '\n')
	}
	return out, nil
}
