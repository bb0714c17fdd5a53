//go:build !wasip1

package sdk

import (
	"net/http"
	"time"
)

// nativeHTTPTimeout stands in for the agent's per-call timeout when a plugin
// runs natively, so that a test against a hung server fails instead of
// hanging.
const nativeHTTPTimeout = 10 * time.Second

// HTTPClient returns a client whose requests the agent performs for the
// plugin through the pushagent_v1.http_request host call, since a WASI
// preview 1 module has no sockets of its own.
//
// What the plugin may reach is decided on the agent, by the collector's
// allow_hosts: by default nothing, because a sandboxed plugin gets no network
// unless its config grants it. A request to any other host, also by
// redirect, fails with the host's message. The agent follows redirects (to
// allowed hosts only), verifies HTTPS against the system roots or the
// collector's CA, bounds each call's time (a context deadline on the request
// shortens it) and the response size. resp.Request.URL is the URL after
// redirects; for HTTPS resp.TLS carries the version and, in
// PeerCertificates, each certificate's NotAfter and nothing else.
//
// Natively (go test, go run) it is an ordinary http.Client with a 10s
// timeout, so that tests can run the plugin against httptest servers.
//
// Only plugins that call HTTPClient import the host call; the others keep
// loading on agents without it.
func (c *Collection) HTTPClient() *http.Client {
	return &http.Client{Timeout: nativeHTTPTimeout}
}
