package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
)

// Transport is an HTTP transport with Go's default settings (proxy from the
// environment, timeouts, HTTP/2) and this TLS configuration: what every
// client of the agent (push, expiry, HTTP plugins) starts from.
func (t TLS) Transport() (*http.Transport, error) {
	cfg, err := t.ClientConfig()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return tr, nil
}

// FormatGrouping prints a grouping key as name="value",… sorted by name,
// the one form every message and the CLI use; "" when it is empty.
func FormatGrouping(g map[string]string) string {
	parts := make([]string, 0, len(g))
	for _, k := range slices.Sorted(maps.Keys(g)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, g[k]))
	}
	return strings.Join(parts, ",")
}

// DescribeGrouping is [FormatGrouping] for a sentence: "no grouping
// labels" when g is empty, as push errors and the CLI print it.
func DescribeGrouping(g map[string]string) string {
	if len(g) == 0 {
		return "no grouping labels"
	}
	return FormatGrouping(g)
}

// ClientConfig builds the crypto/tls configuration for a client: the CA
// file (if any) replaces the system roots, the certificate and key (if
// any) are the client certificate for mTLS. Errors name the file.
func (t TLS) ClientConfig() (*tls.Config, error) {
	cfg := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file/key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
