//go:build !wasip1

package httpcall

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// client makes the requests of a natively run plugin as the agent would:
// no proxy from the environment (the agent ignores it too), redirects
// followed up to the agent's limit, the system roots for HTTPS.
var client = func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return nil
		},
	}
}()

func do(req Request) (*Response, error) {
	timeout := req.Timeout
	if timeout == 0 {
		timeout = nativeTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, req.Method, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return nil, err
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hreq.Header.Add(k, v)
		}
	}
	resp, err := client.Do(hreq)
	if err != nil {
		// net/http names the method and URL already; keep only its cause
		// so that the text is the same as in wasm.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	r := &Response{
		StatusCode: resp.StatusCode,
		Status:     statusLine(resp.StatusCode),
		Header:     Header(resp.Header),
		Body:       body,
		URL:        resp.Request.URL.String(),
	}
	if resp.TLS != nil {
		r.TLS = &TLS{Version: tls.VersionName(resp.TLS.Version)}
		for _, c := range resp.TLS.PeerCertificates {
			r.TLS.PeerNotAfter = append(r.TLS.PeerNotAfter, c.NotAfter.UTC())
		}
	}
	return r, nil
}
