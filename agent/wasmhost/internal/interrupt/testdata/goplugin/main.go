// Command goplugin is a Go WASI reactor shaped like a collector, for the
// interrupt package's tests and benchmarks: work does what a plugin's
// collect does (format series, encode JSON), spin never returns.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o goplugin.wasm .
package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// started tells the host that guest code is running, so that a test sets
// the interrupt flag while the guest runs rather than before.
//
//go:wasmimport env started
func started()

type series struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

// work formats n series in the text exposition format and as JSON and
// returns a checksum of both, so that the original and the instrumented
// module can be compared.
//
//go:wasmexport work
func work(n int32) int32 {
	all := make([]series, 0, n)
	for i := int32(0); i < n; i++ {
		all = append(all, series{
			Name:   fmt.Sprintf("bench_series_%d", i),
			Labels: map[string]string{"instance": "a", "index": fmt.Sprint(i)},
			Value:  float64(i) * 1.5,
		})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name > all[j].Name })
	var b strings.Builder
	for _, s := range all {
		fmt.Fprintf(&b, "%s{index=%q,instance=%q} %g\n", s.Name, s.Labels["index"], s.Labels["instance"], s.Value)
	}
	js, err := json.Marshal(all)
	if err != nil {
		panic(err)
	}
	var sum int32
	for _, c := range []byte(b.String() + string(js)) {
		sum = sum*31 + int32(c)
	}
	return sum
}

// spin is a runaway plugin: a loop that never calls the host.
//
//go:wasmexport spin
func spin() int32 {
	started()
	var i int32
	for {
		i++
	}
}

func main() {}
