package remotewrite

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/wlog"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

// receiver is a fake remote-write receiver that answers what the test
// tells it, for the faults a real one cannot be made to produce. It
// records the value of every sample it accepted, in order.
type receiver struct {
	mu       sync.Mutex
	answers  []int // status per request; 200 once they run out
	accepted []float64
	requests int
	headers  http.Header
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	r.headers = req.Header.Clone()
	code := http.StatusOK
	if len(r.answers) > 0 {
		code, r.answers = r.answers[0], r.answers[1:]
	}
	switch code {
	case -1: // a torn answer: the connection dies mid-response
		hj, _ := w.(http.Hijacker)
		conn, buf, _ := hj.Hijack()
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
		_ = buf.Flush()
		_ = conn.Close()
		return
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
	}
	if code != http.StatusOK {
		http.Error(w, "refused by the test", code)
		return
	}
	body, _ := io.ReadAll(req.Body)
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, ts := range wr.Timeseries {
		for _, s := range ts.Samples {
			r.accepted = append(r.accepted, s.Value)
		}
	}
}

func (r *receiver) values() []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.accepted)
}

func sample(v float64) []prompb.TimeSeries {
	return []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "m"}, {Name: "job", Value: "j"}},
		Samples: []prompb.Sample{{Value: v, Timestamp: time.Now().UnixMilli()}},
	}}
}

func open(t *testing.T, url, dir string, maxSize int64) *Queue {
	t.Helper()
	q, err := Open(Options{Name: "tsdb", Config: config.RemoteWrite{URL: url, Timeout: 2 * time.Second,
		Headers: map[string]config.Secret{"X-Scope-OrgID": "tenant-1"},
		Buffer:  config.Buffer{Dir: dir, MaxSize: maxSize},
		Queue:   config.QueueConfig{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func waitDelivered(t *testing.T, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRetriesThenDeliversInOrder(t *testing.T) {
	rcv := &receiver{answers: []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, -1, http.StatusInternalServerError}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	q := open(t, srv.URL, t.TempDir(), 1<<20)
	defer q.Close()
	for i := range 5 {
		if err := q.Append(sample(float64(i))); err != nil {
			t.Fatal(err)
		}
	}
	waitDelivered(t, q)
	if got := rcv.values(); !slices.Equal(got, []float64{0, 1, 2, 3, 4}) {
		t.Errorf("delivered %v, want 0..4 in order", got)
	}
	st := q.Stats()
	if st.SentSamples != 5 || st.FailedSamples != 0 || st.LastError != "" || !st.FailingSince.IsZero() {
		t.Errorf("stats = %+v", st)
	}
	if h := rcv.headers; h.Get("Content-Encoding") != "snappy" || h.Get("X-Prometheus-Remote-Write-Version") != "0.1.0" || h.Get("X-Scope-OrgID") != "tenant-1" {
		t.Errorf("headers = %v", h)
	}
}

func TestOther4xxIsDroppedAndCounted(t *testing.T) {
	rcv := &receiver{answers: []int{http.StatusBadRequest}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	q := open(t, srv.URL, t.TempDir(), 1<<20)
	defer q.Close()
	_ = q.Append(sample(1))
	_ = q.Append(sample(2))
	waitDelivered(t, q)
	st := q.Stats()
	if got := rcv.values(); !slices.Equal(got, []float64{2}) || st.FailedSamples != 1 || st.SentSamples != 1 {
		t.Errorf("delivered %v, stats %+v; want the refused request dropped and counted, the next one sent", got, st)
	}
}

func TestErrorsNameTheOutputAndSayWhatToDo(t *testing.T) {
	rcv := &receiver{answers: slices.Repeat([]int{http.StatusUnauthorized}, 1)}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	q := open(t, srv.URL, t.TempDir(), 1<<20)
	defer q.Close()
	_ = q.Append(sample(1))
	waitDelivered(t, q)
	if st := q.Stats(); st.FailedSamples != 1 || !strings.Contains(st.LastError, "basic_auth") {
		t.Fatalf("after a 401: %+v; want the sample counted as failed and the error pointing at the credentials", st)
	}
	rcv.mu.Lock()
	rcv.answers = []int{http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusServiceUnavailable}
	rcv.mu.Unlock()
	_ = q.Append(sample(2))
	testenv.Eventually(t, 5*time.Second, "a 503 in the stats", func() bool { return strings.Contains(q.Stats().LastError, "503") })
	if e := q.Stats().LastError; !strings.Contains(e, `output "tsdb"`) || !strings.Contains(e, "503") || !strings.Contains(e, "retrying") {
		t.Errorf("error %q should name the output, the status and what happens", e)
	}
}

func TestBufferSurvivesRestartWithoutResending(t *testing.T) {
	dir := t.TempDir()
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	// Nothing listens here: everything stays in the buffer.
	q := open(t, "http://"+closedAddr(t), dir, 1<<20)
	for i := range 3 {
		_ = q.Append(sample(float64(i)))
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = open(t, srv.URL, dir, 1<<20)
	_ = q.Append(sample(3))
	waitDelivered(t, q)
	_ = q.Close()
	q = open(t, srv.URL, dir, 1<<20)
	_ = q.Append(sample(4))
	waitDelivered(t, q)
	_ = q.Close()
	srv.Close()
	if got := rcv.values(); !slices.Equal(got, []float64{0, 1, 2, 3, 4}) {
		t.Errorf("delivered %v, want 0..4 once each, in order", got)
	}
	// Delivered segments are removed.
	first, last, _ := wlog.Segments(dir)
	if last-first > 1 {
		t.Errorf("segments %d..%d kept after delivery", first, last)
	}
}

func TestMaxSizeDropsOldestAndCounts(t *testing.T) {
	dir := t.TempDir()
	q := open(t, "http://"+closedAddr(t), dir, 1<<20)
	big := make([]prompb.TimeSeries, 0, 2000)
	for i := range 2000 {
		big = append(big, prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: "m"}, {Name: "i", Value: strings.Repeat("x", 40) + string(rune('a'+i%26)) + time.Duration(i).String()}},
			Samples: []prompb.Sample{{Value: float64(i), Timestamp: int64(i)}},
		})
	}
	for range 40 {
		if err := q.Append(big); err != nil {
			t.Fatal(err)
		}
	}
	st := q.Stats()
	size, _ := dirSize(dir)
	if st.DroppedSamples == 0 || st.DroppedSamples%2000 != 0 || size > 1<<20+64<<10 {
		t.Errorf("dropped %d samples, buffer %d bytes; want whole requests dropped and the buffer within max_size", st.DroppedSamples, size)
	}
	if st.BufferBytes == 0 || st.Oldest.IsZero() {
		t.Errorf("stats = %+v: the buffer should report what it holds", st)
	}
	_ = q.Close()
}

// TestTornWriteIsSkipped: a write cut short (a crash mid-write) leaves a
// torn record at the end of a segment. It is skipped; what was written
// before it and after the restart is delivered.
func TestTornWriteIsSkipped(t *testing.T) {
	dir := t.TempDir()
	q := open(t, "http://"+closedAddr(t), dir, 1<<20)
	_ = q.Append(sample(1))
	_ = q.Append(sample(2))
	_ = q.Close()
	_, last, _ := wlog.Segments(dir)
	seg := wlog.SegmentName(dir, last)
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// Cut the second record short (closing padded the page with zeros).
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	if err := os.WriteFile(seg, b[:end-5], 0o644); err != nil {
		t.Fatal(err)
	}
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	q = open(t, srv.URL, dir, 1<<20)
	defer q.Close()
	_ = q.Append(sample(3))
	waitDelivered(t, q)
	if got := rcv.values(); !slices.Equal(got, []float64{1, 3}) {
		t.Errorf("delivered %v, want 1 and 3 (2 was torn)", got)
	}
	if q.Stats().Corrupt == 0 {
		t.Error("the torn record was not counted")
	}
}

// TestCorruptPageSkipsOnlyThatPage: a flipped byte in an early page loses
// the records of that page, not those of the later pages, nor those of
// later segments.
func TestCorruptPageSkipsOnlyThatPage(t *testing.T) {
	dir := t.TempDir()
	q := open(t, "http://"+closedAddr(t), dir, 64<<20)
	const n = 3000
	for i := range n {
		_ = q.Append(sample(float64(i)))
	}
	_ = q.Close()
	_, last, _ := wlog.Segments(dir)
	seg := wlog.SegmentName(dir, last)
	b, _ := os.ReadFile(seg)
	if len(b) < 3*pageSize {
		t.Fatalf("segment is %d bytes; the test needs several pages", len(b))
	}
	b[20] ^= 0xff // inside the first record
	_ = os.WriteFile(seg, b, 0o644)
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	q = open(t, srv.URL, dir, 64<<20)
	defer q.Close()
	_ = q.Append(sample(n))
	waitDelivered(t, q)
	got := rcv.values()
	perPage := n * pageSize / len(b)
	if len(got) < n-2*perPage || got[len(got)-1] != n || slices.Contains(got, 0) || !slices.IsSorted(got) {
		t.Errorf("delivered %d of %d samples (about %d per page), last %v; want only the first page lost, the rest in order", len(got), n+1, perPage, got[len(got)-1])
	}
	if q.Stats().Corrupt == 0 {
		t.Error("the corrupt page was not counted")
	}
}

func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func dirSize(dir string) (int64, error) {
	var n int64
	entries, err := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil {
			n += fi.Size()
		}
	}
	return n, err
}

// TestSecondQueueOnOneDirectoryIsRefused: a second queue on a buffer
// directory in use (another agent's, or another output's through a link)
// is refused with an error naming the directory and saying what to do,
// and the directory is free again once the first queue is closed.
func TestSecondQueueOnOneDirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "alias")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	first := open(t, "http://"+closedAddr(t), dir, 1<<20)
	if err := first.Append(sample(1)); err != nil {
		t.Fatal(err)
	}
	segments := func() int {
		_, last, _ := wlog.Segments(dir)
		return last
	}
	before := segments()
	for _, d := range []string{dir, link} {
		q, err := Open(Options{Name: "second", Config: config.RemoteWrite{URL: "http://" + closedAddr(t), Buffer: config.Buffer{Dir: d, MaxSize: 1 << 20}}})
		if err == nil {
			q.Close()
			t.Fatalf("a second queue opened %s while the first holds it", d)
		}
		for _, want := range []string{`output "second"`, "buffer.dir", d, "another pushagent", "a volume per replica", "${HOSTNAME}"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
		if !errors.Is(err, ErrBufferInUse) {
			t.Errorf("error %v is not ErrBufferInUse", err)
		}
	}
	if got := segments(); got != before {
		t.Errorf("the refused queue touched the buffer: last segment %d, was %d", got, before)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again := open(t, "http://"+closedAddr(t), link, 1<<20)
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSendingResumesWithinMaxBackoff: the receiver fails every request
// for 40s of (fake) time, then takes them. With Prometheus' defaults
// (min_backoff 30ms, max_backoff 5s) the sender retries often enough that
// the buffer is sent within max_backoff of the receiver's return; with a
// 30s cap it came up to half a minute late.
func TestSendingResumesWithinMaxBackoff(t *testing.T) {
	var (
		mu       sync.Mutex
		down     = true
		accepted int
		failed   int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			failed++
			http.Error(w, "the test's outage", http.StatusServiceUnavailable)
			return
		}
		accepted++
	}))
	defer srv.Close()
	clock := clockwork.NewFakeClock()
	q, err := Open(Options{Name: "tsdb", Clock: clock, Config: config.RemoteWrite{URL: srv.URL, Timeout: 2 * time.Second,
		Buffer: config.Buffer{Dir: t.TempDir(), MaxSize: 1 << 20}}})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Append(sample(1)); err != nil {
		t.Fatal(err)
	}
	// sleeping waits until the sender waits on the clock (true) or has
	// delivered (false).
	sleeping := func() bool {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			err := clock.BlockUntilContext(ctx, 1)
			cancel()
			if err == nil {
				return true
			}
			mu.Lock()
			done := accepted > 0
			mu.Unlock()
			if done {
				return false
			}
		}
	}
	const (
		step   = 10 * time.Millisecond
		outage = 40 * time.Second
	)
	var now, back time.Duration
	for sleeping() {
		if now >= outage && back == 0 {
			mu.Lock()
			down = false
			mu.Unlock()
			back = now
		}
		clock.Advance(step)
		now += step
		if now > 5*time.Minute {
			t.Fatal("not delivered after 5 minutes of fake time")
		}
	}
	late := now - back
	max := 5 * time.Second // Prometheus' max_backoff
	if config.DefaultQueueConfig.MaxBackoff != max {
		t.Errorf("default max_backoff %v, want Prometheus' %v", config.DefaultQueueConfig.MaxBackoff, max)
	}
	if late > max {
		t.Errorf("sending resumed %v after the receiver's return, want at most max_backoff %v", late, max)
	}
	mu.Lock()
	defer mu.Unlock()
	// Backoff from 30ms to 5s over 40s is about 16 tries; 5s from the
	// start is 8. Far more would be no backoff at all.
	if failed < 10 || failed > 30 {
		t.Errorf("%d failed requests in a %v outage, want about 16", failed, outage)
	}
	t.Logf("%d failed requests in %v; sent %v after the receiver's return", failed, outage, late)
}
