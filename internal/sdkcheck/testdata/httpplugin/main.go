// Command httpplugin is a test plugin for sdk/httpcall: its config is a list
// of requests, and it reports what came back as metrics, so that a test can
// compare the wasm module run by the agent's host with the same plugin run
// natively.
//
// Built by internal/sdkcheck's tests, as a reactor and natively.
package main

import (
	"strconv"
	"time"

	"github.com/pushagent/pushagent/sdk"
	"github.com/pushagent/pushagent/sdk/httpcall"
)

type request struct {
	Method    string              `json:"method"`
	URL       string              `json:"url"`
	Headers   map[string][]string `json:"headers"`
	Body      string              `json:"body"`
	TimeoutMS int                 `json:"timeout_ms"`
}

func init() { sdk.Register(collect) }

func main() { sdk.Main() }

func collect(c *sdk.Collection) error {
	var cfg struct {
		Requests []request `json:"requests"`
	}
	if err := c.DecodeConfig(&cfg); err != nil {
		return err
	}
	status := c.Gauge("sdkcheck_http_status", "Status code of each request.")
	info := c.Gauge("sdkcheck_http_info", "What each response said.")
	expiry := c.Gauge("sdkcheck_http_tls_not_after_seconds", "Expiry of each peer certificate.")
	failed := c.Gauge("sdkcheck_http_failed", "1 for each request that got no response.")
	for i, r := range cfg.Requests {
		req := strconv.Itoa(i)
		resp, err := httpcall.Do(httpcall.Request{
			Method:  r.Method,
			URL:     r.URL,
			Header:  r.Headers,
			Body:    []byte(r.Body),
			Timeout: time.Duration(r.TimeoutMS) * time.Millisecond,
		})
		if err != nil {
			c.Logger().Warn("request failed", "req", i, "err", err)
			failed.Set(1, "req", req)
			continue
		}
		status.Set(float64(resp.StatusCode), "req", req)
		info.Set(1, "req", req, "status", resp.Status, "url", resp.URL, "body", string(resp.Body),
			"echo", resp.Header.Get("x-echo"), "values", strconv.Itoa(len(resp.Header.Values("X-Multi"))))
		if resp.TLS != nil {
			for j, t := range resp.TLS.PeerNotAfter {
				expiry.Set(float64(t.Unix()), "req", req, "cert", strconv.Itoa(j), "version", resp.TLS.Version)
			}
		}
	}
	return nil
}
