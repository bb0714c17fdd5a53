package testenv

import (
	"bytes"
	"log/slog"
	"sync"
)

// Logs collects log output that the code under test writes from its own
// goroutines (the wasm host, the sweeper, plugins), for assertions on it.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Take returns what was written and empties l, for output that is read
// once per call (a plugin's stdout and stderr).
func (l *Logs) Take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.buf.String()
	l.buf.Reset()
	return s
}

// Logger is a text logger at debug level writing into l.
func (l *Logs) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
