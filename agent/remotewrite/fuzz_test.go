package remotewrite

import (
	"log/slog"
	"os"
	"testing"

	"github.com/prometheus/prometheus/tsdb/wlog"
)

// FuzzBufferDecoder feeds arbitrary bytes to the buffer as a segment left
// by an earlier run: reading must neither panic nor loop, and must end
// past the segment.
func FuzzBufferDecoder(f *testing.F) {
	// A valid segment to mutate from: two 1.0 records and an OTLP one.
	dir := f.TempDir()
	w, err := wlog.NewSize(nil, nil, dir, 4*pageSize, "none")
	if err != nil {
		f.Fatal(err)
	}
	_ = w.Log(record{samples: 1, oldest: 5, body: []byte("first")}.marshal())
	_ = w.Log(record{samples: 2, oldest: 6, body: make([]byte, 40000)}.marshal())
	_ = w.Log(record{format: FormatOTLPGzip, samples: 3, oldest: 7, body: []byte("otlp")}.marshal())
	_ = w.Close()
	seed, _ := os.ReadFile(wlog.SegmentName(dir, 0))
	f.Add(seed)
	f.Add(seed[:len(seed)/3])
	f.Add([]byte{3, 0, 5, 0, 0, 0, 0, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(wlog.SegmentName(dir, 0), data, 0o644); err != nil {
			t.Fatal(err)
		}
		// An empty later segment, as a restart leaves: the fuzzed one is
		// complete. The write-ahead log itself is not opened (it is not
		// what is fuzzed, and opening it per input is slow).
		if err := os.WriteFile(wlog.SegmentName(dir, 1), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		b := &buffer{dir: dir, log: slog.New(slog.DiscardHandler)}
		defer func() { b.cur.close() }()
		for i := 0; ; i++ {
			if i > len(data)/pageSize+len(data)/7+10 {
				t.Fatalf("no end after %d reads of %d bytes", i, len(data))
			}
			r, end, ok, err := b.next()
			if err == nil && !ok {
				break
			}
			if ok {
				if r.samples < 0 || end.offset <= 0 {
					t.Fatalf("record %+v at %+v", r, end)
				}
				b.pos = end
			}
		}
		if b.pos.seg != 1 {
			t.Errorf("reading ended in segment %d, want past the old one", b.pos.seg)
		}
		_, _ = unmarshalRecord(data)
	})
}
