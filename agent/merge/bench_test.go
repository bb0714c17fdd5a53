package merge

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// twentySeries is what the benchmark plugin prints: 20 gauge series.
func twentySeries() string {
	var b strings.Builder
	b.WriteString("# HELP bench_value A benchmark gauge.\n# TYPE bench_value gauge\n")
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, "bench_value{i=\"%d\",worker=\"bench\"} %g\n", i, float64(i)*1.5+0.25)
	}
	return b.String()
}

// BenchmarkParse compares the decoders docs/benchmarks.md weighs: expfmt's
// text parser (what the ABI uses) and expfmt's protobuf-delimited decoder.
func BenchmarkParse(b *testing.B) {
	text := []byte(twentySeries())
	fams, err := ParseText(text)
	if err != nil {
		b.Fatal(err)
	}
	var pb bytes.Buffer
	enc := expfmt.NewEncoder(&pb, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("text", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseText(text); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protodelim", func(b *testing.B) {
		b.ReportAllocs()
		raw := pb.Bytes()
		for b.Loop() {
			dec := expfmt.NewDecoder(bytes.NewReader(raw), expfmt.NewFormat(expfmt.TypeProtoDelim))
			for {
				var mf dto.MetricFamily
				if err := dec.Decode(&mf); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkMerge is parse + rules + status series for one collector.
func BenchmarkMerge(b *testing.B) {
	text := []byte(twentySeries())
	j := Job{Name: "bench", Reserved: []string{"instance"}}
	b.ReportAllocs()
	for b.Loop() {
		j.Merge([]Result{{Collector: "c", Output: text}})
	}
}

// BenchmarkMergeJob is the merge of a job of ten such collectors, each
// with its own collector label (as the load run's jobs): the per-run
// host cost the agent pays besides the calls and the push.
func BenchmarkMergeJob(b *testing.B) {
	text := []byte(twentySeries())
	j := Job{Name: "bench", Reserved: []string{"instance"}}
	results := make([]Result, 10)
	for i := range results {
		results[i] = Result{Collector: fmt.Sprintf("c%02d", i), Output: text, Labels: map[string]string{"c": fmt.Sprintf("%02d", i)}}
	}
	b.ReportAllocs()
	for b.Loop() {
		j.Merge(results)
	}
}
