// Package web is the agent's own HTTP surface: a status page for people,
// /metrics for Prometheus, and /healthz and /readyz for whatever
// supervises the process (Kubernetes probes, systemd, a load balancer).
//
// It only reads: everything it shows comes from (*agent.Agent).Status and
// Ready, which hold no secret, and every value is escaped by html/template.
// It must never expose the config, credentials, collector config or env, nor
// offer an action that changes the agent. The page needs no JavaScript.
package web

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pushagent/pushagent/agent"
)

// DefaultReadyMaxFailing is how long a job's pushes may fail before
// /readyz reports the agent not ready: long enough to ride out a gateway
// restart or a short network outage (pushes are retried until the next run
// is due), short enough that a gateway gone for good is noticed.
const DefaultReadyMaxFailing = 5 * time.Minute

// Options configure the handler. The zero value is usable.
type Options struct {
	// Logger receives errors writing responses. Default: discard.
	Logger *slog.Logger
	// ReadyMaxFailing is how long a job's pushes may fail before /readyz
	// answers 503. Zero or negative means DefaultReadyMaxFailing.
	ReadyMaxFailing time.Duration
	// Version is shown in the status page's footer, e.g. "pushagent v1.2.0
	// (revision …)". Empty shows none.
	Version string
}

// New returns the handler for the agent's HTTP surface:
//
//	/         status page of every job and collector (HTML)
//	/metrics  reg in the Prometheus exposition format
//	/healthz  200 "ok" while the process serves (liveness)
//	/readyz   200 when a.Ready(ReadyMaxFailing), else 503 with the reasons
//
// reg should hold the agent's own metrics (agent.Options.Registry) and
// whatever process collectors the caller wants. The handler is safe for
// concurrent use.
func New(a *agent.Agent, reg *prometheus.Registry, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReadyMaxFailing <= 0 {
		opts.ReadyMaxFailing = DefaultReadyMaxFailing
	}
	s := &server{agent: a, opts: opts, logger: opts.Logger.With("component", "web")}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelError),
	}))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /{$}", s.status)
	return mux
}

type server struct {
	agent  *agent.Agent
	opts   Options
	logger *slog.Logger
}

func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	plain(w, http.StatusOK, "ok\n")
}

func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	ok, reasons := s.agent.Ready(s.opts.ReadyMaxFailing)
	if ok {
		plain(w, http.StatusOK, "ok\n")
		return
	}
	// One reason per line: a reason is an error message and may itself
	// contain a newline, which would split it in two.
	var b strings.Builder
	for _, r := range reasons {
		b.WriteString(strings.ReplaceAll(r, "\n", " "))
		b.WriteByte('\n')
	}
	plain(w, http.StatusServiceUnavailable, b.String())
}

func (s *server) status(w http.ResponseWriter, _ *http.Request) {
	// Rendered into a buffer first, so a template error becomes a 500
	// rather than half a page with a 200.
	var buf bytes.Buffer
	if err := render(&buf, s.agent.Snapshot(), time.Now(), s.opts.Version); err != nil {
		s.logger.Error("rendering the status page", "err", err)
		plain(w, http.StatusInternalServerError, "internal error rendering the status page\n")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// No script may run and nothing may be loaded: the page is static
	// HTML with inline CSS, and error texts come from plugins we don't trust.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if _, err := w.Write(buf.Bytes()); err != nil {
		s.logger.Debug("writing the status page", "err", err)
	}
}

func plain(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprint(w, body)
}
