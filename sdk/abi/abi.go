// Package abi holds the names and wire types of pushagent's plugin ABI,
// version 1, that both sides use: the agent's wasm host and the plugins'
// SDK import this one package, so the JSON of a host call cannot drift
// between the two. docs/plugin-abi.md is the contract it implements.
//
// It holds declarations only; it must never grow behaviour or imports, since
// every plugin that makes HTTP calls links it.
package abi

// Names of the ABI's imports and exports.
const (
	// HostModule is the import module of the host functions. Its name
	// carries the ABI version, so that a plugin built for another version
	// is refused at load instead of misbehaving at run time.
	HostModule = "pushagent_v1"
	// CollectExport is the reactor's per-run entry point, () -> i32,
	// returning 0 on success.
	CollectExport = "pushagent_collect"
	// LogFunc is (level i32, ptr i32, len i32) -> ().
	LogFunc = "log"
	// HTTPRequestFunc is (req_ptr i32, req_len i32) -> i32: it performs
	// the HTTPRequest JSON at req_ptr and returns the length of the
	// HTTPResult JSON it keeps, or -1 if the request bytes could not be
	// read.
	HTTPRequestFunc = "http_request"
	// HTTPResultFunc is (buf_ptr i32, buf_len i32) -> i32: it copies the
	// pending result and returns the bytes copied, or -1 if there is none.
	HTTPResultFunc = "http_result"
)

// Levels of the log host function.
const (
	LevelDebug int32 = 0
	LevelInfo  int32 = 1
	LevelWarn  int32 = 2
	LevelError int32 = 3
)

// HTTPRequest is the JSON a plugin hands to http_request. Only URL is
// required: an empty method is GET, and a timeout of 0 leaves the host's
// per-call bound. Body is base64 in JSON, as encoding/json writes []byte.
type HTTPRequest struct {
	Method    string              `json:"method"`
	URL       string              `json:"url"`
	Headers   map[string][]string `json:"headers,omitempty"`
	Body      []byte              `json:"body,omitempty"`
	TimeoutMS int64               `json:"timeout_ms,omitempty"`
}

// HTTPResult is the JSON http_result hands back. A failed request has a
// non-empty Error and Status 0, and nothing else; status is always
// present, the rest (error included) only when there is something to say,
// so that a plugin may test for the key "error" as well as for an empty
// value. Readers must ignore unknown fields, so that a newer host can add
// some.
type HTTPResult struct {
	Status  int                 `json:"status"`
	Headers map[string][]string `json:"headers,omitempty"`
	Body    []byte              `json:"body,omitempty"`
	// URL is the URL the body came from, after redirects.
	URL string `json:"url,omitempty"`
	// TLS is present for HTTPS responses.
	TLS   *HTTPTLS `json:"tls,omitempty"`
	Error string   `json:"error,omitempty"`
}

// HTTPTLS describes the TLS connection of an HTTPS response.
type HTTPTLS struct {
	// Version is the name crypto/tls gives it, such as "TLS 1.3".
	Version string `json:"version"`
	// PeerNotAfter is each peer certificate's expiry in Unix seconds,
	// leaf first.
	PeerNotAfter []int64 `json:"peer_not_after"`
}
