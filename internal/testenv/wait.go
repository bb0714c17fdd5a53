package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, failing t with what if it does not
// within the given time. It is for tests that must watch something on the
// real clock (another process, a real server, goroutines reacting to a
// fake clock); the poll interval is a fiftieth of within, at least 1 ms.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	every := max(within/50, time.Millisecond)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(every)
	}
}
