package sdk

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// A run reuses the memory of the one before, never its content.
func TestRunsShareNoState(t *testing.T) {
	var kept *Collection
	var keptGauge Gauge
	for run, want := range []string{
		"# TYPE b gauge\nb{x=\"1\"} 1\nb{x=\"2\"} 2\n# TYPE c counter\nc 3\n",
		"# TYPE a untyped\na 4\n# TYPE b gauge\nb{y=\"1\"} 5\n",
		"",
	} {
		out, err := CollectFunc(func(c *Collection) error {
			switch run {
			case 0:
				kept, keptGauge = c, c.Gauge("b", "")
				keptGauge.Set(2, "x", "2")
				keptGauge.Set(1, "x", "1")
				c.Counter("c", "").Set(3)
			case 1:
				// A Collection and a builder kept from the last run,
				// against the rules, must not reach into this one.
				keptGauge.Set(9, "x", "9")
				kept.Gauge("d", "").Set(9)
				c.Untyped("a", "").Set(4)
				c.Gauge("b", "").Set(5, "y", "1")
			}
			return nil
		}).Collect(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != want {
			t.Errorf("run %d: output\n%s\nwant\n%s", run, out, want)
		}
	}
}

// Families past the few that lookup compares one by one are indexed.
func TestManyFamilies(t *testing.T) {
	out, err := CollectFunc(func(c *Collection) error {
		for i := range 3 * maxScannedFamilies {
			c.Gauge(fmt.Sprintf("g%02d", i), "Help.").Set(float64(i))
		}
		for i := range 3 * maxScannedFamilies {
			c.Gauge(fmt.Sprintf("g%02d", i), "").Set(float64(i), "again", "yes")
		}
		if err := c.AddFamily(&Family{Name: "g00", Type: TypeCounter}); err == nil {
			return fmt.Errorf("a type conflict with an indexed family was accepted")
		}
		return nil
	}).Collect(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Count(string(out), "# TYPE"), 3*maxScannedFamilies; got != want {
		t.Errorf("%d families written, want %d:\n%s", got, want, out)
	}
	if !strings.Contains(string(out), "# HELP g23 Help.\n# TYPE g23 gauge\ng23 23\ng23{again=\"yes\"} 23\n") {
		t.Errorf("family g23 missing or wrong:\n%s", out)
	}
}

// Runs in parallel share the recycled memory safely (go test -race).
func TestConcurrentRuns(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				want := fmt.Sprintf("# TYPE g gauge\ng{goroutine=\"%d\",i=\"%d\"} %d\n", g, i, i)
				out, err := CollectFunc(func(c *Collection) error {
					c.Gauge("g", "").Set(float64(i), "i", fmt.Sprint(i), "goroutine", fmt.Sprint(g))
					return nil
				}).Collect(nil, nil)
				if err != nil || string(out) != want {
					t.Errorf("output %q, error %v; want %q", out, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
