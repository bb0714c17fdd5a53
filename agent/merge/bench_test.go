package merge

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/pushagent/pushagent/agent/series"
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

// BenchmarkParse compares the decoders docs/benchmarks.md weighs:
// series.Parse (what the agent uses), Prometheus' own scrape parser
// (textparse, labels only: it applies none of expfmt's checks), expfmt's
// text parser (what the agent used before) and expfmt's
// protobuf-delimited decoder.
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
	b.Run("series", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := series.Parse(text); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("textparse", func(b *testing.B) {
		b.ReportAllocs()
		st := labels.NewSymbolTable()
		for b.Loop() {
			p := textparse.NewPromParser(text, st, false)
			var ls labels.Labels
			for {
				e, err := p.Next()
				if err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
				if e == textparse.EntrySeries {
					p.Labels(&ls)
				}
			}
		}
	})
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

// BenchmarkMerge is parse + rules + status series for one collector:
// into a batch (MergeBatch), and as the agent did it before (expfmt
// families through client_golang's Gatherers, kept in reference_test.go).
func BenchmarkMerge(b *testing.B) {
	text := []byte(twentySeries())
	j := Job{Name: "bench", Reserved: []string{"instance"}}
	b.Run("batch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			j.MergeBatch([]Result{{Collector: "c", Output: text}})
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			j.referenceMerge([]Result{{Collector: "c", Output: text}})
		}
	})
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
	b.Run("batch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			j.MergeBatch(results)
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			j.referenceMerge(results)
		}
	})
}
