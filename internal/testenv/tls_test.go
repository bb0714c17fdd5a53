package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

// TestCA: a server certificate verifies for the loopback names against the
// CA and for nothing else; a client certificate verifies for client auth.
func TestCA(t *testing.T) {
	ca := NewCA(t, "test")
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("CA file holds no certificate")
	}
	load := func(kp KeyPair) *x509.Certificate {
		t.Helper()
		c, err := tls.LoadX509KeyPair(kp.CertFile, kp.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf
	}
	srv := load(ca.Server(t, "srv", "pushagent.test"))
	for _, name := range []string{"127.0.0.1", "::1", "localhost", "pushagent.test"} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: "example.com"}); err == nil {
		t.Error("server certificate verifies for example.com")
	}
	cli := load(ca.Client(t, "cli"))
	if _, err := cli.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("client certificate verifies without its CA")
	}
}
