package remotewrite

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

// TestRecordLayout: a remote write 1.0 record keeps the layout every
// earlier buffer has, and every format reads back as written.
func TestRecordLayout(t *testing.T) {
	old := []byte{0x96, 0x01, 0x0a, 'b', 'o', 'd', 'y'} // samples 150, oldest 5, "body"
	r, err := unmarshalRecord(old)
	if err != nil || r.format != FormatRemoteWrite1 || r.samples != 150 || r.oldest != 5 || string(r.body) != "body" {
		t.Fatalf("an earlier buffer's record read as %+v, %v", r, err)
	}
	if got := (record{samples: 150, oldest: 5, body: []byte("body")}).marshal(); !slices.Equal(got, old) {
		t.Errorf("a 1.0 record is written as %x, want the earlier layout %x", got, old)
	}
	for f := FormatRemoteWrite1; f.valid(); f++ {
		in := record{format: f, samples: 3, oldest: -7, body: []byte{0, 1, 2}}
		out, err := unmarshalRecord(in.marshal())
		if err != nil || out.format != f || out.samples != 3 || out.oldest != -7 || !slices.Equal(out.body, in.body) {
			t.Errorf("%v: read back %+v, %v", f, out, err)
		}
	}
	if _, err := unmarshalRecord([]byte{0, 200, 1, 1}); err == nil {
		t.Error("a record of an unknown format was read")
	}
}

// fakeOTLP answers OTLP requests as the test says: a status per request
// (200 once they run out), with a partial success when set.
type fakeOTLP struct {
	mu       sync.Mutex
	answers  []int
	partial  []byte // ExportMetricsServiceResponse of a 200
	requests []*http.Request
	bodies   [][]byte
}

func (f *fakeOTLP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r)
	f.bodies = append(f.bodies, body)
	code := http.StatusOK
	if len(f.answers) > 0 {
		code, f.answers = f.answers[0], f.answers[1:]
	}
	if code != http.StatusOK {
		http.Error(w, "refused by the test", code)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(f.partial)
}

func (f *fakeOTLP) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func otlpRequest(t *testing.T, v float64) Encoded {
	t.Helper()
	b := testBatch()
	b.Samples[3].Value = v // temp_celsius
	req, err := EncodeOTLP(b, "node", nil, time.Now(), true)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func waitIdle(t *testing.T, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestOTLPFaults: the faults a real receiver cannot be made to produce,
// under the rules remote_write follows: 5xx and 429 retried until
// accepted, other 4xx dropped and counted, a partial success counted as
// failed for what it rejected and not sent again.
func TestOTLPFaults(t *testing.T) {
	t.Run("5xx-then-ok", func(t *testing.T) {
		f := &fakeOTLP{answers: []int{503, 500}}
		srv := httptest.NewServer(f)
		defer srv.Close()
		q := openKind(t, "otlp", srv.URL+"/v1/metrics")
		req := otlpRequest(t, 1)
		if err := q.Enqueue(req); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, q)
		if st := q.Stats(); f.count() != 3 || st.SentSamples != uint64(req.Samples) || st.FailedSamples != 0 {
			t.Errorf("%d requests, %+v; want 3, all samples sent", f.count(), st)
		}
		h := f.requests[2].Header
		if h.Get("Content-Type") != "application/x-protobuf" || h.Get("Content-Encoding") != "gzip" || h.Get(versionHeader) != "" {
			t.Errorf("headers %v, want OTLP's protobuf, gzip, and no remote-write version", h)
		}
		if !slices.Equal(f.bodies[0], f.bodies[2]) || !slices.Equal(f.bodies[2], req.Body) {
			t.Error("the retried body differs from the one buffered")
		}
	})
	t.Run("4xx-dropped", func(t *testing.T) {
		f := &fakeOTLP{answers: []int{400}}
		srv := httptest.NewServer(f)
		defer srv.Close()
		q := openKind(t, "otlp", srv.URL+"/v1/metrics")
		bad, good := otlpRequest(t, 1), otlpRequest(t, 2)
		_ = q.Enqueue(bad)
		_ = q.Enqueue(good)
		waitIdle(t, q)
		st := q.Stats()
		if f.count() != 2 || st.FailedSamples != uint64(bad.Samples) || st.SentSamples != uint64(good.Samples) {
			t.Errorf("%d requests, %+v; want 2, the first dropped", f.count(), st)
		}
	})
	t.Run("404-says-the-path", func(t *testing.T) {
		f := &fakeOTLP{answers: []int{404}}
		srv := httptest.NewServer(f)
		defer srv.Close()
		q := openKind(t, "otlp", srv.URL+"/wrong")
		_ = q.Enqueue(otlpRequest(t, 1))
		waitIdle(t, q)
		if e := q.Stats().LastError; !strings.Contains(e, "/v1/metrics") {
			t.Errorf("last error %q, want it to name OTLP's path", e)
		}
	})
	t.Run("partial-success", func(t *testing.T) {
		var ps []byte
		ps = protowire.AppendTag(ps, 1, protowire.VarintType)
		ps = protowire.AppendVarint(ps, 2)
		ps = protowire.AppendTag(ps, 2, protowire.BytesType)
		ps = protowire.AppendString(ps, "2 points out of bounds")
		var resp []byte
		resp = protowire.AppendTag(resp, 1, protowire.BytesType)
		resp = protowire.AppendBytes(resp, ps)
		f := &fakeOTLP{partial: resp}
		srv := httptest.NewServer(f)
		defer srv.Close()
		logs := &testenv.Logs{}
		q, err := Open(Options{Name: "out", Kind: "otlp", Logger: logs.Logger(), Config: config.RemoteWrite{URL: srv.URL, Timeout: 10 * time.Second,
			Buffer: config.Buffer{Dir: t.TempDir(), MaxSize: 64 << 20}}})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		req := otlpRequest(t, 1)
		_ = q.Enqueue(req)
		waitIdle(t, q)
		if st := q.Stats(); f.count() != 1 || st.FailedSamples != 2 || st.SentSamples != uint64(req.Samples-2) {
			t.Errorf("%d requests, %+v; want 1, 2 samples failed", f.count(), st)
		}
		if l := logs.String(); !strings.Contains(l, "2 points out of bounds") {
			t.Errorf("the receiver's message was not logged: %s", l)
		}
	})
}

// TestMixedFormats: a buffer holding records of several formats (the
// protocol changed between runs) sends each with its own headers.
func TestMixedFormats(t *testing.T) {
	f := &fakeOTLP{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	q := openKind(t, "remote_write", srv.URL)
	v1 := Encoded{Format: FormatRemoteWrite1, Body: []byte("one"), Samples: 1}
	v2 := Encoded{Format: FormatRemoteWrite2, Body: []byte("two"), Samples: 1}
	_ = q.Enqueue(v1)
	_ = q.Enqueue(v2)
	testenv.Eventually(t, 10*time.Second, "two requests", func() bool { return f.count() == 2 })
	if got := f.requests[0].Header; got.Get("Content-Type") != contentTypeRW1 || got.Get(versionHeader) != "0.1.0" || got.Get("Content-Encoding") != "snappy" {
		t.Errorf("1.0 request headers %v", got)
	}
	if got := f.requests[1].Header; got.Get("Content-Type") != contentTypeRW2 || got.Get(versionHeader) != "2.0.0" || got.Get("Content-Encoding") != "snappy" {
		t.Errorf("2.0 request headers %v", got)
	}
	// The fake answered 2.0 without the written headers: not written.
	waitIdle(t, q)
	if st := q.Stats(); st.FailedSamples != 1 || !strings.Contains(st.LastError, "wrote none") {
		t.Errorf("%+v; want the 2.0 request failed as not written", st)
	}
}
