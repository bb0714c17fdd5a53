package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// startTimeout bounds how long a server may take to become ready. A
	// fresh Prometheus is ready in about a second; the margin is for a
	// loaded CI machine running every package's tests at once under -race.
	startTimeout = 60 * time.Second
	// startAttempts is how often a server is started on a new port when
	// the free port from FreeAddr was taken by someone else meanwhile.
	startAttempts = 3
	// stopTimeout is how long a server may take to shut down cleanly.
	stopTimeout = 30 * time.Second
	// tailLines is how much of a server's log a failing test prints.
	tailLines = 40
)

// httpClient is used for every request this package makes. Proxy is nil
// so that HTTP_PROXY and friends can never send test traffic off the
// machine.
var httpClient = &http.Client{
	Timeout: 10 * time.Second,
	Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	},
}

// server is a child process started by startServer.
type server struct {
	name    string
	addr    string
	logPath string
	pid     int
	kill    func() // kills the process (SIGKILL) and waits for it
	stop    func() // SIGTERM, then SIGKILL after stopTimeout
}

// startServer runs bin with the arguments args(addr) for a fresh
// 127.0.0.1 address and waits until ready(addr) returns nil. The process is
// killed and reaped in t.Cleanup; if the test failed, the tail of its log
// is printed then. If the process exits before it is ready because its
// port was taken, it is started again on another port.
func startServer(t testing.TB, name, bin string, args func(addr string) []string, ready func(addr string) error) *server {
	t.Helper()
	return startServerAt(t, name, bin, "", args, ready)
}

// startServerAt is startServer on addr, or on a free address when addr is
// empty; a server restarted on its old address is not moved elsewhere.
func startServerAt(t testing.TB, name, bin, addr string, args func(addr string) []string, ready func(addr string) error) *server {
	t.Helper()
	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		s := &server{
			name:    name,
			addr:    addr,
			logPath: filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, attempt)),
		}
		if s.addr == "" {
			s.addr = FreeAddr(t)
		}
		logFile, err := os.Create(s.logPath)
		if err != nil {
			t.Fatalf("testenv: %s: create log file: %v", name, err)
		}
		cmd := exec.Command(bin, args(s.addr)...)
		cmd.Stdout = logFile
		cmd.Stderr = logFile
		cmd.Dir = dir
		setParentDeathSignal(cmd)
		err = cmd.Start()
		logFile.Close() // the child has its own descriptor
		if err != nil {
			t.Fatalf("testenv: %s: start %s: %v", name, bin, err)
		}
		exited := make(chan struct{})
		var waitErr error
		go func() {
			waitErr = cmd.Wait()
			close(exited)
		}()

		var tailOnce sync.Once
		printTail := func() {
			tailOnce.Do(func() {
				t.Logf("testenv: %s log %s (last %d lines):\n%s", name, s.logPath, tailLines, tail(s.logPath, tailLines))
			})
		}
		s.pid = cmd.Process.Pid
		s.kill = func() {
			_ = cmd.Process.Kill() // fails harmlessly if it already exited
			<-exited
		}
		s.stop = func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(stopTimeout):
				s.kill()
			}
		}
		t.Cleanup(func() {
			s.kill()
			if t.Failed() {
				printTail()
			}
		})

		deadline := time.Now().Add(startTimeout)
		var lastErr error
	wait:
		for {
			select {
			case <-exited:
				log, _ := os.ReadFile(s.logPath)
				if attempt < startAttempts && addr == "" && bytes.Contains(log, []byte("address already in use")) {
					t.Logf("testenv: %s: %s was taken, retrying on another port", name, s.addr)
					break wait
				}
				printTail()
				t.Fatalf("testenv: %s exited before it was ready: %v", name, waitErr)
			case <-time.After(50 * time.Millisecond):
			}
			if lastErr = ready(s.addr); lastErr == nil {
				return s
			}
			if time.Now().After(deadline) {
				printTail()
				t.Fatalf("testenv: %s not ready at %s after %v: %v", name, s.addr, startTimeout, lastErr)
			}
		}
	}
}

// checkReady GETs url with optional basic auth and wants 200.
func checkReady(url, user, pass string) error {
	status, body, err := get(url, user, pass)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, status, strings.TrimSpace(string(body)))
	}
	return nil
}

// get does a GET with optional basic auth and returns status and body.
func get(url, user, pass string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return resp.StatusCode, buf.Bytes(), fmt.Errorf("GET %s: read body: %w", url, err)
	}
	return resp.StatusCode, buf.Bytes(), nil
}

// tail returns the last n lines of the file at path, or why it can't.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "(no log file)"
		}
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
