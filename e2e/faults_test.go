package e2e

// Gateway faults, end to end: the real pushagent binary pushes through a
// fault-injecting proxy on 127.0.0.1 to a real Pushgateway. The proxy
// forwards by default and can be switched to refuse connections, answer
// with a status of its own, hang, or reset the connection — what a
// Pushgateway that is down, overloaded, misconfigured or behind a broken
// load balancer does. Each test asserts what a user relies on: the agent
// keeps running, retries what is worth retrying and nothing else, the
// newest state wins once the gateway is back, and every failure is in the
// log (job, gateway, cause) and on the agent's own /metrics by reason.
//
// The collector is the textfile plugin reading a directory the test
// rewrites, so "the newest state" is a number the test chose.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/pushagent/pushagent/internal/testenv"
)

// Every fault test runs its job every second with a one-second gateway
// timeout, so a run and its retries fit in the interval.
const (
	faultEvery = time.Second
	// faultRecovery bounds how long the newest state may take to reach
	// the gateway once it is healthy again: "within a couple of
	// intervals", plus a second of slack for a loaded machine.
	faultRecovery = 3*faultEvery + time.Second
	stateMetric   = "fault_state"
)

// localHTTP is for the test's own requests: never through a proxy from the
// environment.
var localHTTP = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}

// Faults the proxy can inject.
type faultKind int

const (
	forward faultKind = iota // pass to the real gateway
	refuse                   // no listener: connection refused
	answer                   // answer with a status of its own
	hang                     // read the push, never answer
	reset                    // read the push, then RST the connection
)

type fault struct {
	kind   faultKind
	status int // for answer
}

func (f fault) String() string {
	switch f.kind {
	case forward:
		return "forward"
	case refuse:
		return "refuse"
	case answer:
		return "answer " + strconv.Itoa(f.status)
	case hang:
		return "hang"
	case reset:
		return "reset"
	}
	return "fault(" + strconv.Itoa(int(f.kind)) + ")"
}

// proxyRequest is one request the proxy received.
type proxyRequest struct {
	at     time.Time
	took   time.Duration
	fault  fault
	method string
	state  float64 // the pushed fault_state, if any
	has    bool
	status int // what the client got; 0 for hang and reset
}

// faultProxy is an HTTP proxy on 127.0.0.1 in front of a real gateway.
type faultProxy struct {
	t      *testing.T
	addr   string
	URL    string
	rp     *httputil.ReverseProxy
	srv    *http.Server
	closed chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	ln    net.Listener // nil while refusing
	f     fault
	conns map[net.Conn]struct{}
	reqs  []proxyRequest
}

// startFaultProxy starts a proxy to target with the initial fault f. With
// refuse it only reserves an address and does not listen yet.
func startFaultProxy(t *testing.T, target string, f fault) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, closed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport: &http.Transport{Proxy: nil},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second, ConnState: p.connState}
	p.addr = testenv.FreeAddr(t)
	p.URL = "http://" + p.addr
	p.f = fault{kind: refuse}
	t.Cleanup(func() {
		close(p.closed)
		_ = p.srv.Close()
		p.wg.Wait()
	})
	p.set(f)
	return p
}

func (p *faultProxy) connState(c net.Conn, s http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s {
	case http.StateNew:
		p.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(p.conns, c)
	}
}

// set switches the fault. Switching to refuse closes the listener and
// every open connection, so that even kept-alive connections fail; leaving
// refuse listens on the same address again.
func (p *faultProxy) set(f fault) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	was := p.f
	p.f = f
	switch {
	case f.kind == refuse && was.kind != refuse:
		_ = p.ln.Close()
		p.ln = nil
		for c := range p.conns {
			_ = c.Close()
		}
	case f.kind != refuse && was.kind == refuse:
		var err error
		for range 50 { // the port was ours a moment ago; retry briefly if the kernel disagrees
			if p.ln, err = net.Listen("tcp", p.addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			p.t.Fatalf("fault proxy: listen again on %s: %v", p.addr, err)
		}
		ln := p.ln
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			_ = p.srv.Serve(ln) // returns when refuse or Cleanup closes ln
		}()
	}
	p.t.Logf("fault proxy: %v -> %v", was, f)
}

func (p *faultProxy) current() fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.f
}

// requests returns the requests received since mark (an index from count).
func (p *faultProxy) requests(mark int) []proxyRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]proxyRequest(nil), p.reqs[mark:]...)
}

// count is the number of requests received so far.
func (p *faultProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.reqs)
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, _ := io.ReadAll(r.Body)
	rec := proxyRequest{at: start, fault: p.current(), method: r.Method}
	rec.state, rec.has = pushedState(r.Header, body)
	defer func() {
		rec.took = time.Since(start)
		p.mu.Lock()
		p.reqs = append(p.reqs, rec)
		p.mu.Unlock()
	}()
	switch rec.fault.kind {
	case answer:
		rec.status = rec.fault.status
		http.Error(w, fmt.Sprintf("fault injected by the test proxy: %d %s", rec.fault.status, http.StatusText(rec.fault.status)), rec.fault.status)
	case hang:
		select {
		case <-r.Context().Done(): // the agent gave up
		case <-p.closed:
		}
	case reset, refuse: // refuse: a request that raced the switch
		resetConn(w)
	default:
		r.Body = io.NopCloser(bytes.NewReader(body))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		p.rp.ServeHTTP(sw, r)
		rec.status = sw.status
	}
}

// resetConn ends the connection with a TCP RST (SO_LINGER 0), as a crashed
// gateway or a load balancer dropping the connection does.
func resetConn(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController (used by ReverseProxy) reach the
// underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// pushedState decodes a push body (client_golang sends delimited protobuf)
// and returns the value of fault_state in it.
func pushedState(h http.Header, body []byte) (float64, bool) {
	if len(body) == 0 {
		return 0, false
	}
	dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.ResponseFormat(h))
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			return 0, false
		}
		if mf.GetName() == stateMetric && len(mf.Metric) > 0 {
			return mf.Metric[0].GetGauge().GetValue(), true
		}
	}
}

// faultAgent is a running pushagent with one job reading a textfile
// directory the test writes.
type faultAgent struct {
	*agentProc
	job    string
	dir    string // textfile directory
	listen string // the agent's /metrics
}

type faultAgentOptions struct {
	job                string
	gatewayURL         string
	username, password string // basic auth, if any
}

func startFaultAgent(t *testing.T, opts faultAgentOptions) *faultAgent {
	t.Helper()
	bin := testenv.BuildGo(t, "pushagent", "./cmd/pushagent")
	textfile := testenv.BuildGoArgs(t, "textfile.wasm", "./plugins/textfile", []string{"-buildmode=c-shared"}, "GOOS=wasip1", "GOARCH=wasm")
	dir := t.TempDir()
	a := &faultAgent{job: opts.job, dir: filepath.Join(dir, "textfile"), listen: testenv.FreeAddr(t)}
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	auth := ""
	if opts.username != "" {
		auth = fmt.Sprintf("\n  basic_auth: {username: %q, password: %q}", opts.username, opts.password)
	}
	cfg := fmt.Sprintf(`
gateway:
  url: %s
  timeout: 1s%s
jobs:
  - name: %s
    every: %s
    method: put
    grouping: {instance: faults}
    collectors:
      - name: state
        plugin: %s
        timeout: 500ms
        mounts: {/textfile: textfile}
        config: {directory: /textfile}
`, opts.gatewayURL, auth, opts.job, faultEvery, textfile)
	path := filepath.Join(dir, "schedules.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	a.agentProc = startAgent(t, bin, nil, "run", "--config", path, "--cache-dir", "", "--listen", a.listen)
	testenv.Eventually(t, 30*time.Second, "the agent's /metrics", func() bool {
		_, err := a.scrape()
		return err == nil
	})
	return a
}

// writeState makes the textfile collector report v from its next run on.
// The file is renamed into place so a run never reads half of it.
func (a *faultAgent) writeState(t *testing.T, v int) {
	t.Helper()
	prom := fmt.Sprintf("# HELP %[1]s Newest state written by the test.\n# TYPE %[1]s gauge\n%[1]s %d\n", stateMetric, v)
	tmp := filepath.Join(a.dir, "state.tmp")
	if err := os.WriteFile(tmp, []byte(prom), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(a.dir, "state.prom")); err != nil {
		t.Fatal(err)
	}
}

func (a *faultAgent) scrape() (string, error) {
	resp, err := localHTTP.Get("http://" + a.listen + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return string(b), err
}

// metric returns the value of the agent's own series name with the job
// label and the further labels given as "k", "v" pairs; 0 when absent.
func (a *faultAgent) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	text, err := a.scrape()
	if err != nil {
		t.Fatalf("agent /metrics: %v", err)
	}
	labels = append([]string{"job", a.job}, labels...)
	return sampleValue(text, name, labels...)
}

func (a *faultAgent) runs(t *testing.T) float64 {
	return a.metric(t, "pushagent_job_runs_total")
}

func (a *faultAgent) failures(t *testing.T, reason string) float64 {
	return a.metric(t, "pushagent_push_failures_total", "reason", reason)
}

// alive fails the test if the agent process has exited.
func (a *faultAgent) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-a.done:
		a.done <- err
		t.Fatalf("the agent exited: %v", err)
	default:
	}
}

// pushFailedLines are the agent's "push failed" log lines.
func (a *faultAgent) pushFailedLines() []string {
	var out []string
	for _, l := range strings.Split(a.log(), "\n") {
		if strings.Contains(l, `msg="push failed"`) {
			out = append(out, l)
		}
	}
	return out
}

// lastPushFailed is the newest "push failed" line containing want.
func (a *faultAgent) lastPushFailed(t *testing.T, want string) string {
	t.Helper()
	lines := a.pushFailedLines()
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], want) {
			return lines[i]
		}
	}
	t.Errorf("no push failed line mentions %q; the last ones:\n%s", want, strings.Join(lastN(lines, 3), "\n"))
	return ""
}

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// sampleValue finds a sample in the text exposition format by name and
// label pairs; 0 when absent.
func sampleValue(text, name string, labels ...string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(line, fmt.Sprintf("%s=%q", labels[i], labels[i+1])) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			return v
		}
	}
	return 0
}

// gatewayState is the fault_state the gateway holds for job, and whether
// it holds one.
func gatewayState(t *testing.T, gw *testenv.Pushgateway, job string) (float64, bool) {
	t.Helper()
	for _, line := range strings.Split(gw.Metrics(t), "\n") {
		if strings.HasPrefix(line, stateMetric+"{") && strings.Contains(line, fmt.Sprintf("job=%q", job)) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				t.Fatalf("gateway line %q: %v", line, err)
			}
			return v, true
		}
	}
	return 0, false
}

// waitState waits until the gateway holds want for the agent's job and
// returns how long that took.
func waitState(t *testing.T, gw *testenv.Pushgateway, a *faultAgent, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	testenv.Eventually(t, within, fmt.Sprintf("%s %d at the gateway", stateMetric, want), func() bool {
		v, ok := gatewayState(t, gw, a.job)
		return ok && v == float64(want)
	})
	return time.Since(start)
}

// window measures what happened at the proxy and in the agent's counters
// while a fault lasted.
type window struct {
	runs     float64 // job runs started
	skipped  int     // runs the scheduler skipped: the previous one was still going
	reqs     []proxyRequest
	failures map[string]float64 // increase of push failures by reason
}

func observe(t *testing.T, p *faultProxy, a *faultAgent, d time.Duration, reasons ...string) window {
	t.Helper()
	runs0, mark, logMark := a.runs(t), p.count(), len(a.log())
	before := map[string]float64{}
	for _, r := range reasons {
		before[r] = a.failures(t, r)
	}
	time.Sleep(d)
	w := window{runs: a.runs(t) - runs0, reqs: p.requests(mark), failures: map[string]float64{}}
	w.skipped = strings.Count(a.log()[logMark:], "run skipped")
	for _, r := range reasons {
		w.failures[r] = a.failures(t, r) - before[r]
	}
	a.alive(t)
	t.Logf("%v for %v: %v runs (%d skipped), %d requests at the proxy, failures %v", p.current(), d, w.runs, w.skipped, len(w.reqs), w.failures)
	return w
}

// Case 1: the gateway is down when the agent starts, then comes up.
func TestFaultGatewayDownAtStart(t *testing.T) {
	t.Parallel()
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	p := startFaultProxy(t, gw.URL, fault{kind: refuse})
	a := startFaultAgent(t, faultAgentOptions{job: "fault-down-at-start", gatewayURL: p.URL})
	a.writeState(t, 1)

	testenv.Eventually(t, 10*time.Second, "two failed pushes with reason network", func() bool { return a.failures(t, "network") >= 2 })
	w := observe(t, p, a, 3*time.Second, "network")
	if w.runs+float64(w.skipped) < 2 || w.failures["network"] < w.runs-1 {
		t.Errorf("while the gateway was down: %v runs (%d skipped), %v network failures; want the job to keep running and each run to fail with network", w.runs, w.skipped, w.failures["network"])
	}
	line := a.lastPushFailed(t, "connection refused")
	for _, want := range []string{"job=" + a.job, "gateway=" + p.URL, "is the gateway running"} {
		if !strings.Contains(line, want) {
			t.Errorf("push failed line lacks %q:\n%s", want, line)
		}
	}

	a.writeState(t, 2)
	p.set(fault{kind: forward})
	took := waitState(t, gw, a, 2, faultRecovery)
	t.Logf("newest state at the gateway %v after it came up", took.Round(time.Millisecond))
}

// Case 2: 5xx for a few seconds, then healthy.
func TestFaultServerErrorsThenHealthy(t *testing.T) {
	t.Parallel()
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	p := startFaultProxy(t, gw.URL, fault{kind: forward})
	a := startFaultAgent(t, faultAgentOptions{job: "fault-5xx", gatewayURL: p.URL})
	a.writeState(t, 1)
	waitState(t, gw, a, 1, 10*time.Second)

	for i, code := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError} {
		p.set(fault{kind: answer, status: code})
		a.writeState(t, 2+i)
		reason := fmt.Sprintf("http_%d", code)
		w := observe(t, p, a, 4*time.Second, reason)
		// A failed attempt is retried after 0.5–0.75 s, so most runs of a
		// one-second interval make two attempts.
		if len(w.reqs) <= int(w.runs) {
			t.Errorf("%d: %d requests in %v runs; want retries (more requests than runs)", code, len(w.reqs), w.runs)
		}
		if w.failures[reason] < w.runs-1 || w.failures[reason] > w.runs+1 {
			t.Errorf("%s failures rose by %v in %v runs; want one per run", reason, w.failures[reason], w.runs)
		}
		line := a.lastPushFailed(t, strconv.Itoa(code))
		for _, want := range []string{"job=" + a.job, "gateway=" + p.URL, "attempt(s)"} {
			if !strings.Contains(line, want) {
				t.Errorf("push failed line lacks %q:\n%s", want, line)
			}
		}
		if v, _ := gatewayState(t, gw, a.job); v != 1 {
			t.Errorf("gateway state changed to %v while it answered %d", v, code)
		}
	}

	a.writeState(t, 10)
	p.set(fault{kind: forward})
	took := waitState(t, gw, a, 10, faultRecovery)
	t.Logf("newest state at the gateway %v after it was healthy again", took.Round(time.Millisecond))
}

// Case 3: wrong credentials. 401 comes from the real gateway (basic auth
// on, the agent has the wrong password); the real gateway never answers
// 403, so that one comes from the proxy.
func TestFaultWrongCredentials(t *testing.T) {
	t.Parallel()
	const wrong = "not-the-password-42"
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{Username: "pusher", Password: password})
	p := startFaultProxy(t, gw.URL, fault{kind: forward})
	a := startFaultAgent(t, faultAgentOptions{job: "fault-credentials", gatewayURL: p.URL, username: "pusher", password: wrong})
	a.writeState(t, 1)

	testenv.Eventually(t, 10*time.Second, "a failed push with reason http_401", func() bool { return a.failures(t, "http_401") >= 1 })
	for _, code := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		if code == http.StatusForbidden {
			p.set(fault{kind: answer, status: code})
		}
		reason := fmt.Sprintf("http_%d", code)
		w := observe(t, p, a, 5*time.Second, reason)
		// Not retried: the same credentials fail the same way. At most one
		// attempt per scheduled run (one more for a run that straddles
		// the window's edge).
		if len(w.reqs) > int(w.runs)+1 {
			t.Errorf("%d: %d requests in %v runs; want at most one attempt per run", code, len(w.reqs), w.runs)
		}
		for _, r := range w.reqs {
			if r.status != code {
				t.Errorf("the proxy saw a %d answer, want only %d", r.status, code)
				break
			}
		}
		if w.runs < 3 || w.failures[reason] < w.runs-1 {
			t.Errorf("%s failures rose by %v in %v runs; want one per run", reason, w.failures[reason], w.runs)
		}
		line := a.lastPushFailed(t, strconv.Itoa(code))
		for _, want := range []string{"job=" + a.job, "gateway=" + p.URL, "check gateway.basic_auth / bearer_token", "1 attempt(s)"} {
			if !strings.Contains(line, want) {
				t.Errorf("push failed line lacks %q:\n%s", want, line)
			}
		}
		t.Logf("log: %s", line)
	}
	if strings.Contains(a.log(), wrong) {
		t.Errorf("the agent logged the password")
	}
	for _, g := range gw.Groups(t) {
		if g.Labels["job"] == a.job {
			t.Errorf("a push with wrong credentials reached the gateway: %v", g.Labels)
		}
	}
}

// Case 4: the real gateway refuses metrics inconsistent with what it holds
// (400), and the agent's log carries its explanation.
func TestFaultInconsistentMetrics(t *testing.T) {
	t.Parallel()
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	// Another group first: fault_state as a counter. The agent pushes it
	// as a gauge.
	clash := prometheus.NewCounter(prometheus.CounterOpts{Name: stateMetric, Help: "Pushed by someone else, as a counter."})
	clash.Add(7)
	if err := push.New(gw.URL, "fault-someone-else").Collector(clash).Push(); err != nil {
		t.Fatalf("push the clashing counter: %v", err)
	}
	p := startFaultProxy(t, gw.URL, fault{kind: forward})
	a := startFaultAgent(t, faultAgentOptions{job: "fault-inconsistent", gatewayURL: p.URL})
	a.writeState(t, 1)

	testenv.Eventually(t, 10*time.Second, "a failed push with reason http_400", func() bool { return a.failures(t, "http_400") >= 1 })
	w := observe(t, p, a, 4*time.Second, "http_400")
	if len(w.reqs) > int(w.runs)+1 {
		t.Errorf("%d requests in %v runs; a 400 must not be retried", len(w.reqs), w.runs)
	}
	if w.runs < 2 || w.failures["http_400"] < w.runs-1 {
		t.Errorf("http_400 failures rose by %v in %v runs; want one per run", w.failures["http_400"], w.runs)
	}
	line := a.lastPushFailed(t, "400")
	for _, want := range []string{"job=" + a.job, "gateway=" + p.URL, stateMetric, "inconsistent", "the gateway refused the metrics"} {
		if !strings.Contains(line, want) {
			t.Errorf("push failed line lacks %q:\n%s", want, line)
		}
	}
	t.Logf("log: %s", line)
}

// Case 5: a gateway that hangs, then one that resets connections. Each run
// is bounded by the gateway timeout and the next run's start; the job keeps
// being scheduled.
func TestFaultHangAndReset(t *testing.T) {
	t.Parallel()
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	p := startFaultProxy(t, gw.URL, fault{kind: forward})
	a := startFaultAgent(t, faultAgentOptions{job: "fault-hang-reset", gatewayURL: p.URL})
	a.writeState(t, 1)
	waitState(t, gw, a, 1, 10*time.Second)

	p.set(fault{kind: hang})
	a.writeState(t, 2)
	w := observe(t, p, a, 5*time.Second, "timeout")
	// Runs the scheduler skipped still show it kept scheduling; that
	// it should not skip them is TestFaultFailedPushDoesNotSkipNextRun.
	if w.runs+float64(w.skipped) < 4 || w.failures["timeout"] < w.runs-1 {
		t.Errorf("hang: %v runs (%d skipped), timeout failures rose by %v; want the job to keep running, each run failing with timeout", w.runs, w.skipped, w.failures["timeout"])
	}
	var longest time.Duration
	for _, r := range w.reqs {
		longest = max(longest, r.took)
	}
	// gateway.timeout is 1s; the proxy sees the agent give up a little later.
	if longest > 1500*time.Millisecond {
		t.Errorf("a hanging request lasted %v; want it bounded by the 1s gateway timeout", longest)
	}
	t.Logf("hang: longest request %v", longest.Round(time.Millisecond))
	line := a.lastPushFailed(t, "deadline exceeded")
	for _, want := range []string{"job=" + a.job, "gateway=" + p.URL, "raise gateway.timeout"} {
		if !strings.Contains(line, want) {
			t.Errorf("push failed line lacks %q:\n%s", want, line)
		}
	}
	t.Logf("log: %s", line)

	p.set(fault{kind: reset})
	a.writeState(t, 3)
	w = observe(t, p, a, 4*time.Second, "network")
	if w.runs+float64(w.skipped) < 3 || w.failures["network"] < w.runs-1 {
		t.Errorf("reset: %v runs (%d skipped), network failures rose by %v; want each run to fail with network", w.runs, w.skipped, w.failures["network"])
	}
	if len(w.reqs) <= int(w.runs) {
		t.Errorf("reset: %d requests in %v runs; want retries", len(w.reqs), w.runs)
	}
	line = a.lastPushFailed(t, "connection reset by peer")
	for _, want := range []string{"job=" + a.job, "gateway=" + p.URL, "is the gateway running"} {
		if !strings.Contains(line, want) {
			t.Errorf("push failed line lacks %q:\n%s", want, line)
		}
	}
	t.Logf("log: %s", line)

	if v, _ := gatewayState(t, gw, a.job); v != 1 {
		t.Errorf("gateway state changed to %v during the faults", v)
	}
	a.writeState(t, 4)
	p.set(fault{kind: forward})
	took := waitState(t, gw, a, 4, faultRecovery)
	t.Logf("newest state at the gateway %v after recovery", took.Round(time.Millisecond))
}

// Case 6: an outage of a minute — half of it refusing connections, half
// answering 503 — while the state keeps changing. After recovery the
// newest state is at the gateway within a couple of intervals, and no
// older state is ever pushed after a newer one.
func TestFaultOutageThenRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("a one-minute outage")
	}
	t.Parallel()
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	p := startFaultProxy(t, gw.URL, fault{kind: forward})
	a := startFaultAgent(t, faultAgentOptions{job: "fault-outage", gatewayURL: p.URL})
	state := 1
	a.writeState(t, state)
	waitState(t, gw, a, state, 10*time.Second)

	// seen is every value the gateway showed, in order.
	var seen []float64
	sample := func() {
		if v, ok := gatewayState(t, gw, a.job); ok && (len(seen) == 0 || seen[len(seen)-1] != v) {
			seen = append(seen, v)
		}
	}
	runs0, logMark := a.runs(t), len(a.log())
	start := time.Now()
	for _, phase := range []struct {
		f fault
		d time.Duration
	}{
		{fault{kind: refuse}, 30 * time.Second},
		{fault{kind: answer, status: http.StatusServiceUnavailable}, 30 * time.Second},
	} {
		p.set(phase.f)
		end := time.Now().Add(phase.d)
		for time.Now().Before(end) {
			state++
			a.writeState(t, state)
			sample()
			time.Sleep(300 * time.Millisecond)
		}
		a.alive(t)
	}
	outage := time.Since(start)
	runs := a.runs(t) - runs0
	skipped := strings.Count(a.log()[logMark:], "run skipped")
	t.Logf("outage of %v: %v runs (%d skipped), %v network and %v http_503 failures, state written up to %d",
		outage.Round(time.Millisecond), runs, skipped, a.failures(t, "network"), a.failures(t, "http_503"), state)
	// Skipped runs count as kept schedule here; that they should not be
	// skipped is TestFaultFailedPushDoesNotSkipNextRun.
	if least := outage.Seconds() * 0.9 / faultEvery.Seconds(); runs+float64(skipped) < least {
		t.Errorf("%v runs and %d skipped in an outage of %v; want the job to keep its schedule (at least %.0f)", runs, skipped, outage, least)
	}
	if a.failures(t, "network") < 10 || a.failures(t, "http_503") < 10 {
		t.Errorf("failures by reason after the outage: network %v, http_503 %v; want both counted",
			a.failures(t, "network"), a.failures(t, "http_503"))
	}
	if len(seen) != 1 || seen[0] != 1 {
		t.Errorf("the gateway's state changed during the outage: %v", seen)
	}

	recovered := time.Now()
	p.set(fault{kind: forward})
	took := waitState(t, gw, a, state, faultRecovery)
	t.Logf("newest state %d at the gateway %v after recovery", state, took.Round(time.Millisecond))
	// Stays the newest: nothing older lands after it.
	for end := time.Now().Add(3 * faultEvery); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		sample()
	}
	if v, _ := gatewayState(t, gw, a.job); v != float64(state) {
		t.Errorf("gateway state went from %d to %v after recovery; seen %v", state, v, seen)
	}

	// What the agent sent, in the order the proxy received it, never goes
	// back to an older state.
	var last float64
	forwarded := 0
	for _, r := range p.requests(0) {
		if !r.has {
			continue
		}
		if r.state < last {
			t.Errorf("the agent pushed state %v at %v after it had pushed %v", r.state, r.at.Format(time.StampMilli), last)
		}
		last = r.state
		if r.fault.kind == forward && r.at.After(recovered) {
			forwarded++
		}
	}
	t.Logf("after recovery %d pushes were forwarded; seen at the gateway: %v", forwarded, seen)
}

// Case 7 is asserted in each case above by reason; this checks that the
// reasons are the documented label values and that a healthy push clears
// nothing: failure counters only ever grow.
func TestFaultReasonsOnAgentMetrics(t *testing.T) {
	t.Parallel()
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	p := startFaultProxy(t, gw.URL, fault{kind: forward})
	a := startFaultAgent(t, faultAgentOptions{job: "fault-reasons", gatewayURL: p.URL})
	a.writeState(t, 1)
	waitState(t, gw, a, 1, 10*time.Second)

	steps := []struct {
		f      fault
		reason string
	}{
		{fault{kind: answer, status: http.StatusServiceUnavailable}, "http_503"},
		{fault{kind: answer, status: http.StatusUnauthorized}, "http_401"},
		{fault{kind: hang}, "timeout"},
		{fault{kind: reset}, "network"},
		{fault{kind: refuse}, "network"},
	}
	got := map[string]float64{}
	for _, s := range steps {
		p.set(s.f)
		before := a.failures(t, s.reason)
		testenv.Eventually(t, 8*time.Second, fmt.Sprintf("pushagent_push_failures_total{reason=%q} to rise under %v", s.reason, s.f), func() bool {
			return a.failures(t, s.reason) >= before+2
		})
		got[s.reason] = a.failures(t, s.reason)
	}
	p.set(fault{kind: forward})
	a.writeState(t, 2)
	waitState(t, gw, a, 2, faultRecovery)
	text, err := a.scrape()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "pushagent_push_failures_total{") {
			lines = append(lines, l)
			if !strings.Contains(l, `reason="http_`) && !strings.Contains(l, `reason="timeout"`) && !strings.Contains(l, `reason="network"`) {
				t.Errorf("unexpected reason: %s", l)
			}
		}
	}
	for reason, v := range got {
		if now := a.failures(t, reason); now < v {
			t.Errorf("%s failures went down from %v to %v", reason, v, now)
		}
	}
	if a.metric(t, "pushagent_last_successful_push_timestamp_seconds") < float64(time.Now().Add(-5*time.Second).Unix()) {
		t.Errorf("pushagent_last_successful_push_timestamp_seconds not updated after recovery")
	}
	t.Logf("agent /metrics:\n%s", strings.Join(lines, "\n"))
}

// TestFaultFailedPushDoesNotSkipNextRun: a push that keeps failing with a
// retryable error (5xx, refused, reset, hang) must end before the next run
// is due. It once ended at that very instant, so the scheduler found the
// previous run still going and skipped the next: while the gateway was
// unhealthy the job ran at half its rate.
func TestFaultFailedPushDoesNotSkipNextRun(t *testing.T) {
	t.Parallel()
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	p := startFaultProxy(t, gw.URL, fault{kind: answer, status: http.StatusServiceUnavailable})
	a := startFaultAgent(t, faultAgentOptions{job: "fault-no-skip", gatewayURL: p.URL})
	a.writeState(t, 1)
	testenv.Eventually(t, 10*time.Second, "a failed push", func() bool { return a.failures(t, "http_503") >= 1 })
	for _, f := range []fault{{kind: answer, status: http.StatusServiceUnavailable}, {kind: hang}} {
		p.set(f)
		w := observe(t, p, a, 6*time.Second)
		if w.skipped > 0 || w.runs < 5 {
			t.Errorf("%v: %v runs and %d skipped in 6s of a 1s schedule; a failed push must end before the next run is due, not skip it",
				f, w.runs, w.skipped)
		}
	}
}
