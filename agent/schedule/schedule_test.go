package schedule

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"github.com/pushagent/pushagent/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestIntervalRunsAtStartThenEveryInterval(t *testing.T) {
	clock := clockwork.NewFakeClock()
	s, err := New(Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	if err := s.Add(Job{Name: "a", Every: 10 * time.Second, Run: func(context.Context) { runs.Add(1) }}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	testenv.Eventually(t, 5*time.Second, "the immediate first run", func() bool { return runs.Load() == 1 })
	for want := int32(2); want <= 4; want++ {
		_ = clock.BlockUntilContext(context.Background(), 1)
		clock.Advance(10 * time.Second)
		testenv.Eventually(t, 5*time.Second, "the next interval run", func() bool { return runs.Load() == want })
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSlowRunIsNotOverlappedAndSkipsAreCounted(t *testing.T) {
	clock := clockwork.NewFakeClock()
	var onSkip atomic.Int32
	s, err := New(Options{Clock: clock, OnSkip: func(job string) {
		if job == "slow" {
			onSkip.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var concurrent, maxConcurrent, slowRuns, fastRuns atomic.Int32
	if err := s.Add(Job{Name: "slow", Every: time.Second, Run: func(context.Context) {
		n := concurrent.Add(1)
		if n > maxConcurrent.Load() {
			maxConcurrent.Store(n)
		}
		slowRuns.Add(1)
		<-release
		concurrent.Add(-1)
	}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(Job{Name: "fast", Every: time.Second, Run: func(context.Context) { fastRuns.Add(1) }}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	testenv.Eventually(t, 5*time.Second, "first runs", func() bool { return slowRuns.Load() == 1 && fastRuns.Load() == 1 })
	for i := 2; i <= 4; i++ {
		clock.Advance(time.Second)
		want := int32(i)
		testenv.Eventually(t, 5*time.Second, "fast job keeps running while slow one hangs", func() bool { return fastRuns.Load() == want })
		// Each tick's skip is counted before the clock moves again: on a
		// loaded machine the scheduler may not have re-armed the slow
		// job's timer yet, and a tick advanced past then is never seen.
		testenv.Eventually(t, 5*time.Second, "skip counted", func() bool {
			_, skipped := s.Stats("slow")
			return skipped == uint64(want-1) && onSkip.Load() == want-1
		})
	}
	close(release)
	if got := maxConcurrent.Load(); got != 1 {
		t.Errorf("slow job ran %d times at once", got)
	}
	if runs, _ := s.Stats("slow"); runs != 1 {
		t.Errorf("slow runs = %d, want 1", runs)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestJitterDelaysTheRun(t *testing.T) {
	clock := clockwork.NewFakeClock()
	s, err := New(Options{Clock: clock, Jitter: func(max time.Duration) time.Duration { return max / 2 }})
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	if err := s.Add(Job{Name: "j", Every: time.Minute, Jitter: 10 * time.Second, Run: func(context.Context) { runs.Add(1) }}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	// Wait until the run is parked on its jitter timer (plus gocron's).
	_ = clock.BlockUntilContext(context.Background(), 2)
	if runs.Load() != 0 {
		t.Fatal("ran before its jitter elapsed")
	}
	clock.Advance(5 * time.Second)
	testenv.Eventually(t, 5*time.Second, "run after jitter", func() bool { return runs.Load() == 1 })
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCronSchedule(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(start)
	s, err := New(Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	if err := s.Add(Job{Name: "c", Cron: "* * * * *", Run: func(context.Context) { runs.Add(1) }}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	_ = clock.BlockUntilContext(context.Background(), 1)
	if next := s.NextRun("c"); !next.Equal(start.Add(30 * time.Second)) {
		t.Errorf("next run = %v, want the top of the next minute", next)
	}
	clock.Advance(30 * time.Second)
	testenv.Eventually(t, 5*time.Second, "cron run", func() bool { return runs.Load() == 1 })
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownWaitsThenCancels(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var once sync.Once
	var canceled atomic.Bool
	if err := s.Add(Job{Name: "stuck", Every: time.Hour, Run: func(ctx context.Context) {
		once.Do(func() { close(started) })
		<-ctx.Done()
		canceled.Store(true)
	}}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); err == nil {
		t.Error("Shutdown did not report the canceled run")
	}
	if !canceled.Load() {
		t.Error("in-flight run was not canceled past the grace period")
	}
}

func TestRemoveAndReAddKeepsTheOverlapGuard(t *testing.T) {
	clock := clockwork.NewFakeClock()
	s, err := New(Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var oldRuns, newRuns atomic.Int32
	if err := s.Add(Job{Name: "j", Every: time.Second, Run: func(context.Context) { oldRuns.Add(1); <-release }}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	testenv.Eventually(t, 5*time.Second, "old run", func() bool { return oldRuns.Load() == 1 })
	if err := s.Remove("j"); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(Job{Name: "j", Every: time.Second, Run: func(context.Context) { newRuns.Add(1) }}); err != nil {
		t.Fatal(err)
	}
	// The new definition fires at once, but the old run is still going.
	testenv.Eventually(t, 5*time.Second, "skip while the old run goes on", func() bool { _, skipped := s.Stats("j"); return skipped >= 1 })
	if newRuns.Load() != 0 {
		t.Fatal("new definition ran while the old run was still going")
	}
	close(release)
	// Advance until the new definition's timer has been set and fired; how
	// soon gocron re-arms it after the skip is not ours to know.
	testenv.Eventually(t, 5*time.Second, "new definition runs after the old run ended", func() bool {
		clock.Advance(time.Second)
		return newRuns.Load() >= 1
	})
	if err := s.Remove("nope"); err == nil {
		t.Error("removing an unknown job succeeded")
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownDoesNotWaitForARunInItsJitterDelay(t *testing.T) {
	// The jitter function is called as the run parks on its delay: once it
	// was, shutting down must not wait for the run, whether the run has
	// reached its wait yet or not.
	parked := make(chan struct{})
	var once sync.Once
	s, err := New(Options{Jitter: func(max time.Duration) time.Duration {
		once.Do(func() { close(parked) })
		return max - time.Millisecond
	}})
	if err != nil {
		t.Fatal(err)
	}
	var ran atomic.Bool
	if err := s.Add(Job{Name: "j", Every: time.Hour, Jitter: time.Hour, Run: func(context.Context) { ran.Store(true) }}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	<-parked
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if took := time.Since(start); took > time.Second || ran.Load() {
		t.Errorf("shutdown took %v (ran %v); a run in its jitter delay should give up at once", took, ran.Load())
	}
}
