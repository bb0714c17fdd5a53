package agent

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// BenchmarkOTLP10k: a 10,000-series job through an otlp output to
// VictoriaMetrics (collect from an HTTP plugin, parse, merge, encode,
// gzip, buffer, send, wait for the receiver's answer) against a bare
// library write of the same request (the OTLP protobuf message of the same
// 10,000 points, built once; per run: timestamps set, marshalled, gzipped,
// one POST). Both report the process's CPU per run besides the time, which
// a busy machine stretches.
func BenchmarkOTLP10k(b *testing.B) {
	const n = 10000
	vm := testenv.StartVictoriaMetricsOTLP(b)
	var text strings.Builder
	text.WriteString("# TYPE bench_value gauge\n")
	points := make([]*metricspb.NumberDataPoint, n)
	for i := range n {
		fmt.Fprintf(&text, "bench_value{idx=\"%d\",pod=\"worker-%d\"} %d\n", i, i%50, i)
		points[i] = &metricspb.NumberDataPoint{Attributes: []*commonpb.KeyValue{str("idx", fmt.Sprint(i)), str("pod", fmt.Sprintf("worker-%d", i%50))},
			Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: float64(i)}}
	}
	data := &metricspb.MetricsData{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", "bench"), str("service.instance.id", "bench")}},
		ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{{Name: "bench_value",
			Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: points}}}}}},
	}}}
	body := text.String()
	b.Run("bare-marshal-gzip-post", func(b *testing.B) {
		cpu0 := processCPU(b)
		for b.Loop() {
			ts := uint64(time.Now().UnixNano())
			for _, p := range points {
				p.TimeUnixNano = ts
			}
			raw, err := proto.Marshal(data)
			if err != nil {
				b.Fatal(err)
			}
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			_, _ = zw.Write(raw)
			_ = zw.Close()
			req, _ := http.NewRequest(http.MethodPost, vm.OTLPURL, &z)
			req.Header.Set("Content-Type", "application/x-protobuf")
			req.Header.Set("Content-Encoding", "gzip")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				b.Fatal(resp.Status)
			}
		}
		b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
	})
	b.Run("agent", func(b *testing.B) {
		cpu := benchAgentPush(b, config.Output{Name: "otel", OTLP: &config.OTLP{URL: vm.OTLPURL, Timeout: 30 * time.Second, Compression: "gzip",
			Buffer: config.Buffer{Dir: filepath.Join(b.TempDir(), "buffer"), MaxSize: 256 << 20}}}, body, n)
		// The whole test process: the agent, and the HTTP plugin serving
		// the text.
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	})
}
