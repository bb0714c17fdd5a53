// Package testenv starts the real programs that pushagent's tests run
// against — a Prometheus Pushgateway, a Prometheus server, the Go toolchain
// building plugins — and tears them down when the test ends. It also makes
// what such servers need: certificate authorities and certificates for
// tests of TLS listeners (NewCA), never checked in and gone with the test.
//
// It is imported only from _test.go files. It must never talk to anything
// but 127.0.0.0/8: every server it starts listens on 127.0.0.1, every
// HTTP client it uses ignores proxy settings, and all state (data
// directories, config and log files) lives in t.TempDir.
//
// A test that needs a program that is not installed is skipped on a
// developer's machine and fails under CI=true, so that a CI machine missing
// a package cannot go green by skipping everything. scripts/setup-debian.sh
// installs every program these helpers look for.
package testenv
