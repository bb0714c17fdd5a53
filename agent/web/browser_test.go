package web

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pushagent/pushagent/internal/testenv"
)

// TestStatusPageInABrowser loads the status page of a real, failing agent
// in headless Chromium, on a phone and on a desktop, and checks what a
// person sees: the rendered text, the colours of the failing parts, that
// nothing needs sideways scrolling and that links are big enough to tap.
//
// UPDATE_SCREENSHOT=1 also writes the desktop screenshot to
// docs/status-page.png for the README. A screenshot of each viewport is
// always written to the test's temp dir (its path is logged with -v).
//
// It changes the working directory, so it must not run in parallel; the
// other tests of the package that do only start once it is done.
func TestStatusPageInABrowser(t *testing.T) {
	chromium := testenv.RequireBinary(t, "chromium")
	docs, err := filepath.Abs(filepath.Join("..", "..", "docs", "status-page.png"))
	if err != nil {
		t.Fatal(err)
	}
	// The plugins sit in plugins/ of the working directory, as in a real
	// deployment, so the page (and the screenshot in the docs) shows
	// plugins/hello.wasm rather than a temp path.
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hello", "misbehave"} {
		if err := os.Rename(wat(t, name), filepath.Join(root, "plugins", name+".wasm")); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(root)
	a, reg := runAgent(t, downGateway,
		collector("hello", "plugins/hello.wasm", "1"),
		collector("trapper", "plugins/misbehave.wasm", `"trap"`))
	srv := httptest.NewServer(New(a, reg, Options{Version: "pushagent (browser test)"})) // on 127.0.0.1
	defer srv.Close()

	start := time.Now()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // the tests run as root, where Chromium's sandbox cannot start
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-gpu", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	// The first action starts the browser, which then lives as long as ctx:
	// it must not run under a timeout of its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	t.Logf("browser started in %v", time.Since(start).Round(time.Millisecond))

	shots := t.TempDir()
	for _, vp := range []struct {
		name          string
		width, height int64
		phone         bool
	}{
		{"phone", 390, 844, true},
		{"desktop", 1280, 900, false},
	} {
		t.Run(vp.name, func(t *testing.T) {
			start := time.Now()
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			var emulate []chromedp.EmulateViewportOption
			if vp.phone {
				emulate = append(emulate, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch)
			}
			if err := chromedp.Do(ctx,
				chromedp.EmulateViewport(vp.width, vp.height, emulate...),
				chromedp.Navigate(srv.URL+"/"),
				chromedp.WaitVisible(chromedp.CSS("main")),
			); err != nil {
				t.Fatalf("loading the page: %v", err)
			}
			text := func(sel string) string {
				t.Helper()
				s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
				if err != nil {
					t.Fatalf("text of %s: %v", sel, err)
				}
				return s
			}
			contains := func(what, got string, want ...string) {
				t.Helper()
				for _, w := range want {
					if !strings.Contains(got, w) {
						t.Errorf("%s does not say %q; it says:\n%s", what, w, got)
					}
				}
			}

			contains("the summary", text("#summary"), "1 job, 1 failing")
			job := text("#job-batch-worker")
			contains("the job", job, "batch-worker", "FAILING", "push failing", "1 of 2 collectors failed",
				"Last push", "FAILED", "Failing since", "Push error (gateway):", "127.0.0.1:1", "connection refused",
				"every 1s", `instance="host-1"`, `zone="eu-1"`, "Next run", "Last run")
			// Relative times: "just now" within the first second, "Ns ago" after.
			if !strings.Contains(job, " ago") && !strings.Contains(job, "just now") {
				t.Errorf("the job shows no relative time of its last run:\n%s", job)
			}
			if strings.Contains(job, gatewaySecret) {
				t.Errorf("the page shows the gateway password")
			}
			// Collectors are listed in config order: hello, then trapper.
			good := text("li.collector:nth-of-type(1)")
			contains("the good collector", good, "hello", "OK", "plugins/hello.wasm", "1 sample")
			if strings.Contains(good, "FAILED") {
				t.Errorf("the good collector is shown as failed:\n%s", good)
			}
			contains("the trapping collector", text("li.collector:nth-of-type(2)"), "trapper", "FAILED", "unreachable")

			// Failing is said in colour too: the badge is red, the OK one green.
			colours, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[".badge.failing", "li.collector.ok .badge"].map(
				s => getComputedStyle(document.querySelector(s)).backgroundColor)`))
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"rgb(198, 40, 40)", "rgb(218, 251, 225)"}; strings.Join(colours, ";") != strings.Join(want, ";") {
				t.Errorf("badge colours (failing, ok) = %q, want %q", colours, want)
			}

			// Nothing needs sideways scrolling.
			widths, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
			if err != nil {
				t.Fatal(err)
			}
			if widths[0] > widths[1] {
				t.Errorf("the page is %dpx wide in a %dpx window: it scrolls sideways", widths[0], widths[1])
			}
			// Every link is at least 44 CSS pixels high: a finger can hit it.
			heights, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`[...document.querySelectorAll("a")].map(a => a.getBoundingClientRect().height)`))
			if err != nil {
				t.Fatal(err)
			}
			for i, h := range heights {
				if h < 44 {
					t.Errorf("link %d is %.0fpx high, want at least 44 to tap it", i, h)
				}
			}
			if len(heights) < 4 {
				t.Errorf("found %d links, want the job's and /metrics, /readyz, /healthz", len(heights))
			}
			if vp.phone {
				cols, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("main")).gridTemplateColumns`))
				if err != nil {
					t.Fatal(err)
				}
				if n := len(strings.Fields(cols)); n != 1 {
					t.Errorf("the phone layout has %d columns (%s), want 1", n, cols)
				}
			}

			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			shot := filepath.Join(shots, "status-"+vp.name+".png")
			if err := os.WriteFile(shot, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: checked in %v; screenshot %s", vp.name, time.Since(start).Round(time.Millisecond), shot)
			if !vp.phone && os.Getenv("UPDATE_SCREENSHOT") == "1" {
				if err := os.WriteFile(docs, png, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s", docs)
			}
		})
	}
}
