package remotewrite

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/pushagent/pushagent/agent/config"
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
