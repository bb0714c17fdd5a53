package remotewrite

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/series"
	"github.com/pushagent/pushagent/internal/testenv"
)

// BenchmarkBufferVsSend: what the disk buffer adds on the steady path
// (write a 10,000-series request, read it back, record the position and
// trim) against sending the same request to VictoriaMetrics.
func BenchmarkBufferVsSend(b *testing.B) {
	series := make([]prompb.TimeSeries, 10000)
	for i := range series {
		series[i] = prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: "bench_value"}, {Name: "idx", Value: fmt.Sprint(i)}, {Name: "job", Value: "bench"}, {Name: "pod", Value: fmt.Sprintf("worker-%d", i%50)}},
			Samples: []prompb.Sample{{Value: float64(i), Timestamp: time.Now().UnixMilli()}},
		}
	}
	body, samples, oldest, err := Encode(series)
	if err != nil {
		b.Fatal(err)
	}
	rec := record{samples: samples, oldest: oldest, body: body}
	b.Run("buffer", func(b *testing.B) {
		buf, err := openBuffer(b.TempDir(), 256<<20, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		defer buf.close()
		for b.Loop() {
			if err := buf.append(rec); err != nil {
				b.Fatal(err)
			}
			_, end, ok, err := buf.next()
			if !ok || err != nil {
				b.Fatal("no record", err)
			}
			buf.pos = end
			if err := buf.savePosition(); err != nil {
				b.Fatal(err)
			}
			if _, err := buf.trim(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("send", func(b *testing.B) {
		vm := testenv.StartVictoriaMetrics(b)
		q, err := Open(Options{Name: "bench", Config: config.RemoteWrite{URL: vm.WriteURL, Timeout: 30 * time.Second,
			Buffer: config.Buffer{Dir: b.TempDir(), MaxSize: 256 << 20}}})
		if err != nil {
			b.Fatal(err)
		}
		defer q.Close()
		for b.Loop() {
			if _, err := q.post(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// bench10k is a 10,000-series gauge family, as BenchmarkBufferVsSend's.
func bench10k() *series.Batch {
	b := &series.Batch{Families: []series.Family{{Name: "bench_value", Type: model.MetricTypeGauge, Help: "A benchmark value."}},
		Samples: make([]series.Sample, 10000)}
	for i := range b.Samples {
		b.Samples[i] = series.Sample{Labels: labels.FromStrings("__name__", "bench_value", "idx", strconv.Itoa(i), "pod", fmt.Sprintf("worker-%d", i%50)), Value: float64(i)}
	}
	return b
}

// BenchmarkOTLP10k: one run of 10,000 series through the OTLP path of an
// output (encode from the batch, gzip, buffer on disk, send, wait for
// VictoriaMetrics' answer) against a bare library write of the same
// request (marshal the OTLP protobuf, gzip, one POST).
func BenchmarkOTLP10k(b *testing.B) {
	vm := testenv.StartVictoriaMetricsOTLP(b)
	batch := bench10k()
	grouping := map[string]string{"instance": "bench"}
	b.Run("bare-marshal-gzip-post", func(b *testing.B) {
		// The request the output sends, decoded once outside the loop:
		// the bare write starts from the finished protobuf message.
		req, err := EncodeOTLP(batch, "bench", grouping, time.Now(), false)
		if err != nil {
			b.Fatal(err)
		}
		var data metricspb.MetricsData
		if err := proto.Unmarshal(req.Body, &data); err != nil {
			b.Fatal(err)
		}
		points := data.ResourceMetrics[0].ScopeMetrics[0].Metrics[0].GetGauge().DataPoints
		cpu0 := processCPU(b)
		for b.Loop() {
			ts := uint64(time.Now().UnixNano())
			for _, p := range points {
				p.TimeUnixNano = ts
			}
			raw, err := proto.Marshal(&data)
			if err != nil {
				b.Fatal(err)
			}
			var body bytes.Buffer
			zw := gzip.NewWriter(&body)
			_, _ = zw.Write(raw)
			_ = zw.Close()
			hreq, _ := http.NewRequest(http.MethodPost, vm.OTLPURL, &body)
			hreq.Header.Set("Content-Type", "application/x-protobuf")
			hreq.Header.Set("Content-Encoding", "gzip")
			resp, err := http.DefaultClient.Do(hreq)
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
	b.Run("output", func(b *testing.B) {
		q, err := Open(Options{Name: "bench", Kind: "otlp", Config: config.RemoteWrite{URL: vm.OTLPURL, Timeout: 30 * time.Second,
			Buffer: config.Buffer{Dir: b.TempDir(), MaxSize: 256 << 20}}})
		if err != nil {
			b.Fatal(err)
		}
		defer q.Close()
		cpu0 := processCPU(b)
		for b.Loop() {
			req, err := EncodeOTLP(batch, "bench", grouping, time.Now(), true)
			if err != nil {
				b.Fatal(err)
			}
			if err := q.Enqueue(req); err != nil {
				b.Fatal(err)
			}
			if err := q.Wait(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		if st := q.Stats(); st.FailedSamples > 0 {
			b.Fatal(st.LastError)
		}
	})
}

// processCPU is the user and system CPU time of this process so far: the
// figure a busy machine stretches least.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
