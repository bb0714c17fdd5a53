package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"go.uber.org/goleak"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/merge"
	"github.com/pushagent/pushagent/internal/testenv"
)

// The hostile-plugin suite: whatever a plugin does, the agent keeps
// working, loses nothing it could keep, and lets nothing out of the
// sandbox. Each hostile behaviour has its own small plugin in
// testdata/hostile, run in a job next to a well-behaved collector.

const (
	// hostileTimeout is the collector timeout of most cases: short, so
	// the suite stays fast, and still ten times what a well-behaved WAT
	// plugin needs under -race on two cores.
	hostileTimeout = 300 * time.Millisecond
	// hostileMargin is how far past its longest collector timeout a
	// job's Collect may end: the time wazero takes to notice the deadline
	// and close the instance, plus the merge.
	hostileMargin = 500 * time.Millisecond
	// hostileGood is the collector name of the well-behaved neighbour,
	// hostileBad that of the hostile collector, in every case's job.
	hostileGood = "good"
	hostileBad  = "hostile"
)

// hostileCase is one hostile behaviour.
type hostileCase struct {
	name   string
	plugin string // base name in testdata/hostile: "loop" is loop.wat
	config string // the collector's config, handed to the plugin on stdin
	// Collector settings beyond the defaults of hostileFixture.collector.
	timeout     time.Duration
	memoryLimit uint64
	maxOutput   int64
	maxResponse int64
	mount       bool // mount the fixture's directory at /data
	allowHosts  bool // allow the fixture's HTTP server A
	// wantErr are substrings of the hostile collector's status error,
	// besides job, collector and plugin file, which every case checks.
	wantErr []string
	// wantLog are substrings of what the agent logged during the run.
	wantLog []string
	// absent are metric families the hostile plugin printed that must not
	// be pushed, because its run failed.
	absent []string
}

// hostileFixture is everything the cases run against: built plugins, a
// mounted directory next to a secret, and HTTP servers.
type hostileFixture struct {
	plugins map[string]string // plugin base name -> built .wasm path

	secret     string // content of secretPath; must never come out
	secretPath string // outside the mount
	mountDir   string // mounted read-only at /data
	mountFiles []string
	inProm     string // content of mountDir/in.prom

	srvA, srvB *httptest.Server // A is allowed, B is not
	hitsB      atomic.Int64     // requests that reached B: must stay 0
	stop       chan struct{}    // unblocks A's handlers that never answer
}

func newHostileFixture(t *testing.T) *hostileFixture {
	t.Helper()
	f := &hostileFixture{plugins: map[string]string{}, stop: make(chan struct{})}
	out := t.TempDir()
	wat2wasm := testenv.RequireBinary(t, "wat2wasm")
	srcs, err := filepath.Glob(filepath.Join("testdata", "hostile", "*.wat"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no WAT plugins in testdata/hostile: %v", err)
	}
	for _, src := range srcs {
		name := strings.TrimSuffix(filepath.Base(src), ".wat")
		wasm := filepath.Join(out, name+".wasm")
		if b, err := exec.Command(wat2wasm, src, "-o", wasm).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm %s: %v\n%s", src, err, b)
		}
		f.plugins[name] = wasm
	}

	// root/secret.txt is outside the mount root/mnt, which holds in.prom
	// and symlinks pointing out of it.
	root := t.TempDir()
	f.secret = "s3cr3t-" + rand.Text()
	f.secretPath = filepath.Join(root, "secret.txt")
	f.mountDir = filepath.Join(root, "mnt")
	f.inProm = "granted-content" // readable by escape.wasm as a label value
	hostileMust(t, os.WriteFile(f.secretPath, []byte(f.secret), 0o644))
	hostileMust(t, os.Mkdir(f.mountDir, 0o755))
	hostileMust(t, os.WriteFile(filepath.Join(f.mountDir, "in.prom"), []byte(f.inProm), 0o644))
	hostileMust(t, os.Symlink("../secret.txt", filepath.Join(f.mountDir, "escape")))
	hostileMust(t, os.Symlink(f.secretPath, filepath.Join(f.mountDir, "escape-abs")))
	hostileMust(t, os.Symlink("..", filepath.Join(f.mountDir, "updir")))
	f.mountFiles = hostileListDir(t, f.mountDir)

	f.srvB = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hitsB.Add(1)
		fmt.Fprintln(w, "hostile_escaped 1")
	}))
	mux := http.NewServeMux()
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select { // never answers: waits for the client to give up
		case <-r.Context().Done():
		case <-f.stop:
		}
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "fine")
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, f.srvB.URL+"/landed", http.StatusFound)
	})
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		chunk := bytes.Repeat([]byte("hostile_endless 1\n"), 2048)
		rc := http.NewResponseController(w)
		for { // chunked, never ends
			if _, err := w.Write(chunk); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-f.stop:
				return
			default:
			}
		}
	})
	f.srvA = httptest.NewServer(mux)
	return f
}

// close stops the servers. Called explicitly, not in t.Cleanup, so that
// goleak can check for leftover goroutines after it.
func (f *hostileFixture) close() {
	close(f.stop)
	f.srvA.Close()
	f.srvB.Close()
}

func (f *hostileFixture) addrA() string { return f.srvA.Listener.Addr().String() }

// cases is the table. Timings: the hostile collector's timeout is
// hostileTimeout unless the case says otherwise.
func (f *hostileFixture) cases() []hostileCase {
	httpReq := func(url string, extra string) string { return `{"url":"` + url + `"` + extra + `}` }
	// refused is how escape and rowrite fail when WASI refuses what they
	// try: they exit with the errno. Any errno will do (the controls in
	// TestHostilePlugins show the plugins work); with wazero 1.12 they are
	// EPERM (63) for ".." and absolute paths, EIO (29) for symlinks out of
	// the mount, ENOENT (44) for create, EBADF (8) for opening to write
	// and ENOSYS (52) for unlink, mkdir, rename, symlink and set-size.
	const refused = "exited with code"
	return []hostileCase{
		{name: "infinite-loop", plugin: "loop", wantErr: []string{"timed out"}},
		{
			name: "loop-in-host-call", plugin: "hostcall_loop", allowHosts: true,
			config:  httpReq(f.srvA.URL+"/hang", ""),
			wantErr: []string{"timed out"},
		},
		{
			name: "allocate-to-limit", plugin: "alloc", memoryLimit: 4 << 20,
			wantErr: []string{"wasm error: unreachable", "ran out of memory", "memory_limit is 4MiB"},
		},
		{
			name: "stdout-flood", plugin: "stdout_flood", maxOutput: 64 << 10,
			wantErr: []string{"output exceeds max_output (65536 bytes)"},
			absent:  []string{"hostile_flood"},
		},
		{
			name: "stderr-flood", plugin: "stderr_flood",
			wantErr: []string{"timed out"},
			wantLog: []string{"plugin stderr truncated"},
		},

		// Files outside the mount. The plugin exits with the errno of the
		// refused path_open; had it read the secret it would print it.
		{name: "read-dotdot", plugin: "escape", mount: true, config: `"../secret.txt"`, wantErr: []string{refused}},
		{name: "read-absolute-host-path", plugin: "escape", mount: true, config: `"` + f.secretPath + `"`, wantErr: []string{refused}},
		{name: "read-symlink-out", plugin: "escape", mount: true, config: `"escape"`, wantErr: []string{refused}},
		{name: "read-absolute-symlink-out", plugin: "escape", mount: true, config: `"escape-abs"`, wantErr: []string{refused}},
		{name: "read-via-dir-symlink-out", plugin: "escape", mount: true, config: `"updir/secret.txt"`, wantErr: []string{refused}},

		// Writes to the read-only mount, one WASI way each.
		{name: "write-create", plugin: "rowrite", mount: true, config: `"c"`, wantErr: []string{refused}},
		{name: "write-truncate", plugin: "rowrite", mount: true, config: `"t"`, wantErr: []string{refused}},
		{name: "write-append", plugin: "rowrite", mount: true, config: `"a"`, wantErr: []string{refused}},
		{name: "write-unlink", plugin: "rowrite", mount: true, config: `"u"`, wantErr: []string{refused}},
		{name: "write-mkdir", plugin: "rowrite", mount: true, config: `"d"`, wantErr: []string{refused}},
		{name: "write-rename", plugin: "rowrite", mount: true, config: `"r"`, wantErr: []string{refused}},
		{name: "write-symlink", plugin: "rowrite", mount: true, config: `"s"`, wantErr: []string{refused}},
		{name: "write-set-size", plugin: "rowrite", mount: true, config: `"z"`, wantErr: []string{refused}},

		// HTTP. httpfail exits 1 when the host call reports an error; the
		// host's reason is in the log.
		{
			name: "http-host-not-allowed", plugin: "httpfail", allowHosts: true,
			config:  httpReq(f.srvB.URL+"/direct", ""),
			wantErr: []string{"exited with code 1"},
			wantLog: []string{"is not in the collector's allow_hosts"},
		},
		{
			name: "http-redirect-out", plugin: "httpfail", allowHosts: true,
			config:  httpReq(f.srvA.URL+"/redirect", ""),
			wantErr: []string{"exited with code 1"},
			wantLog: []string{"redirect to " + f.srvB.Listener.Addr().String() + ": host is not in the collector's allow_hosts"},
		},
		{
			name: "http-never-answers", plugin: "httpfail", allowHosts: true, timeout: 500 * time.Millisecond,
			config:  httpReq(f.srvA.URL+"/hang", `,"timeout_ms":150`),
			wantErr: []string{"exited with code 1"},
			wantLog: []string{"timed out after"},
		},
		{
			name: "http-endless-body", plugin: "httpfail", allowHosts: true, maxResponse: 256 << 10,
			config:  httpReq(f.srvA.URL+"/endless", ""),
			wantErr: []string{"exited with code 1"},
			wantLog: []string{"response larger than max_response (262144 bytes)"},
		},

		// Output that is not (all) valid exposition text.
		{
			name: "garbage-output", plugin: "garbage",
			wantErr: []string{"output is not valid Prometheus text exposition format"},
		},
		{
			name: "half-valid-output", plugin: "halfvalid",
			wantErr: []string{"output is not valid Prometheus text exposition format"},
			absent:  []string{"hostile_half"},
		},

		{name: "non-zero-exit", plugin: "exit", wantErr: []string{"exited with code 7"}, absent: []string{"hostile_exit"}},
		{name: "trap-unreachable", plugin: "unreachable", wantErr: []string{"wasm error: unreachable"}, absent: []string{"hostile_trap"}},
		{name: "trap-divide-by-zero", plugin: "divzero", wantErr: []string{"wasm error: integer divide by zero"}, absent: []string{"hostile_divzero"}},
		{name: "reactor-infinite-loop", plugin: "reactor_loop", wantErr: []string{"timed out"}},
		{name: "sleep-past-deadline", plugin: "sleep", wantErr: []string{"timed out"}},
	}
}

// hostileSuccessFamily is what the probing plugins print when the sandbox
// lets them do what they try: it must never be pushed.
var hostileSuccessFamily = map[string]string{"escape": "hostile_leak", "rowrite": "hostile_wrote", "httpfail": "hostile_http_ok"}

func (f *hostileFixture) collector(name string, tc hostileCase) config.Collector {
	c := config.Collector{
		Name:        name,
		Plugin:      f.plugins[tc.plugin],
		Config:      []byte(tc.config),
		Timeout:     hostileTimeout,
		MemoryLimit: 1 << 20,
		MaxOutput:   1 << 16,
	}
	if c.Config == nil {
		c.Config = []byte("{}")
	}
	if tc.timeout > 0 {
		c.Timeout = tc.timeout
	}
	if tc.memoryLimit > 0 {
		c.MemoryLimit = tc.memoryLimit
	}
	if tc.maxOutput > 0 {
		c.MaxOutput = tc.maxOutput
	}
	if tc.maxResponse > 0 {
		c.MaxResponse = tc.maxResponse
	}
	if tc.mount {
		c.Mounts = map[string]string{"/data": f.mountDir}
	}
	if tc.allowHosts {
		c.AllowHosts = []string{f.addrA()}
	}
	return c
}

func (f *hostileFixture) good() config.Collector {
	return config.Collector{Name: hostileGood, Plugin: f.plugins["good"], Config: []byte("{}"), Timeout: hostileTimeout, MemoryLimit: 1 << 20, MaxOutput: 1 << 16}
}

// job is one case's job: the good collector next to the hostile one.
func (f *hostileFixture) job(tc hostileCase) config.Job {
	return config.Job{
		Name: tc.name, Every: time.Minute, Method: "put", Grouping: map[string]string{"instance": "hostile"},
		Collectors: []config.Collector{f.good(), f.collector(hostileBad, tc)},
	}
}

// checkMountUntouched fails if the mounted directory changed.
func (f *hostileFixture) checkMountUntouched(t *testing.T) {
	t.Helper()
	if got := hostileListDir(t, f.mountDir); !slices.Equal(got, f.mountFiles) {
		t.Errorf("SANDBOX ESCAPE: the read-only mount now holds %v, was %v", got, f.mountFiles)
	}
	if b, err := os.ReadFile(filepath.Join(f.mountDir, "in.prom")); err != nil || string(b) != f.inProm {
		t.Errorf("SANDBOX ESCAPE: in.prom in the read-only mount is now %q (%v), was %q", b, err, f.inProm)
	}
	if b, err := os.ReadFile(f.secretPath); err != nil || string(b) != f.secret {
		t.Errorf("SANDBOX ESCAPE: the secret outside the mount changed: %q (%v)", b, err)
	}
}

func TestHostilePlugins(t *testing.T) {
	f := newHostileFixture(t)
	defer f.close()
	cases := f.cases()
	cfg := &config.Config{Gateway: config.Gateway{URL: "http://127.0.0.1:1", Timeout: time.Second}}
	// Controls: the plugins that probe the sandbox succeed at what is
	// granted, so that their failures below are the sandbox's doing, not
	// a bug of the plugin. escape.wasm reads a file inside its mount (fd 3
	// is the mount); httpfail.wasm gets an answer from an allowed host.
	controls := []struct {
		tc   hostileCase
		want string
	}{
		{hostileCase{name: "control-read-granted-file", plugin: "escape", mount: true, config: `"in.prom"`}, `content="granted-content"`},
		{hostileCase{name: "control-http-allowed", plugin: "httpfail", allowHosts: true, config: `{"url":"` + f.srvA.URL + `/ok"}`}, "hostile_http_ok"},
	}
	for _, c := range controls {
		cfg.Jobs = append(cfg.Jobs, f.job(c.tc))
	}
	for _, tc := range cases {
		cfg.Jobs = append(cfg.Jobs, f.job(tc))
	}
	logs := &hostileLog{secret: []byte(f.secret), retain: true}
	a, err := New(context.Background(), cfg, Options{Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())

	for _, ctl := range controls {
		t.Run(ctl.tc.name, func(t *testing.T) {
			c, err := a.Collect(context.Background(), ctl.tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if st := hostileStatus(t, c, hostileBad); !st.Success {
				t.Fatalf("%s.wasm fails at what it is granted: %v", ctl.tc.plugin, st.Err)
			}
			if text := hostileText(t, families(c)); !strings.Contains(text, ctl.want) {
				t.Errorf("output lacks %s:\n%s", ctl.want, text)
			}
		})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := f.job(tc)
			deadline := slices.MaxFunc(job.Collectors, func(a, b config.Collector) int { return int(a.Timeout - b.Timeout) }).Timeout
			plugin := filepath.Base(f.plugins[tc.plugin])
			// Three runs: the third proves the job still works after the
			// hostile plugin did its worst twice.
			for run := 1; run <= 3; run++ {
				logs.reset()
				start := time.Now()
				c, err := a.Collect(context.Background(), tc.name)
				took := time.Since(start)
				if err != nil {
					t.Fatal(err)
				}
				if took > deadline+hostileMargin {
					t.Errorf("run %d took %v, past the deadline %v + margin %v", run, took, deadline, hostileMargin)
				}
				st := hostileStatus(t, c, hostileBad)
				if st.Success || st.Err == nil {
					t.Fatalf("run %d: the hostile collector succeeded (samples %d)\nfamilies:\n%s", run, st.Samples, hostileText(t, families(c)))
				}
				msg := st.Err.Error()
				if run == 1 {
					t.Logf("took %v; err: %s", took.Round(time.Millisecond), hostileFirstLine(msg))
				}
				for _, want := range []string{`job "` + tc.name + `"`, `collector "` + hostileBad + `"`, plugin} {
					if !strings.Contains(msg, want) {
						t.Errorf("run %d: status error does not name %s:\n%s", run, want, msg)
					}
				}
				if strings.HasSuffix(msg, "exited with code 99") {
					t.Errorf("run %d: rowrite.wasm did not understand its config %s", run, tc.config)
				}
				for _, want := range tc.wantErr {
					if !strings.Contains(msg, want) {
						t.Errorf("run %d: status error does not say %q:\n%s", run, want, msg)
					}
				}
				if v, ok := hostileSuccess(families(c), hostileBad); !ok || v != 0 {
					t.Errorf("run %d: %s{collector=%q} = %v (present %v), want 0", run, merge.SuccessName, hostileBad, v, ok)
				}
				if v, ok := hostileSuccess(families(c), hostileGood); !ok || v != 1 {
					t.Errorf("run %d: %s{collector=%q} = %v (present %v), want 1", run, merge.SuccessName, hostileGood, v, ok)
				}
				if good := hostileStatus(t, c, hostileGood); !good.Success || good.Samples != 1 {
					t.Errorf("run %d: the good collector: success %v, samples %d, err %v", run, good.Success, good.Samples, good.Err)
				}
				names := hostileFamilyNames(families(c))
				if !slices.Contains(names, "hostile_good") {
					t.Errorf("run %d: the good collector's series are missing: %v", run, names)
				}
				for _, name := range append(slices.Clone(tc.absent), hostileSuccessFamily[tc.plugin]) {
					if slices.Contains(names, name) {
						t.Errorf("run %d: %s from the failed run was pushed", run, name)
					}
				}
				text := hostileText(t, families(c))
				log := logs.String()
				if strings.Contains(text, f.secret) || strings.Contains(log, f.secret) || strings.Contains(msg, f.secret) || logs.leaked() {
					t.Errorf("SANDBOX ESCAPE: run %d: the secret reached the push, the status or the log", run)
				}
				for _, want := range tc.wantLog {
					if !strings.Contains(log, want) {
						t.Errorf("run %d: log lacks %q:\n%s", run, want, log)
					}
				}
				if n := strings.Count(log, `msg="plugin stderr"`); n > 100 {
					t.Errorf("run %d: %d plugin stderr records in one run; the bound is 100", run, n)
				}
				if run == 1 {
					if line := hostileLogLine(log, "plugin HTTP call failed"); line != "" {
						t.Logf("host log: %s", line)
					}
				}
			}
			f.checkMountUntouched(t)
			if n := f.hitsB.Load(); n != 0 {
				t.Errorf("SANDBOX ESCAPE: %d requests reached the server the collector may not reach", n)
			}
		})
	}
}

// TestHostileLoadErrors: plugins that cannot be loaded fail New with an
// error naming job, collector and file for every one of them, and nothing
// about the jobs that would have loaded.
func TestHostileLoadErrors(t *testing.T) {
	f := newHostileFixture(t)
	defer f.close()
	notWasm := filepath.Join(t.TempDir(), "notwasm.wasm")
	hostileMust(t, os.WriteFile(notWasm, []byte("#!/bin/sh\ncat /etc/shadow\n"), 0o755))
	f.plugins["notwasm"] = notWasm
	fine := f.job(hostileCase{name: "fine", plugin: "exit"})
	imports := f.job(hostileCase{name: "imports", plugin: "badimport"})
	notwasm := f.job(hostileCase{name: "notwasm", plugin: "notwasm"})
	cfg := &config.Config{
		Gateway: config.Gateway{URL: "http://127.0.0.1:1", Timeout: time.Second},
		Jobs:    []config.Job{fine, imports, notwasm},
	}
	_, err := New(context.Background(), cfg, Options{})
	if err == nil {
		t.Fatal("New succeeded with a plugin that imports what the host lacks and a file that is not wasm")
	}
	t.Logf("New: %v", err)
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 2 {
		t.Errorf("want one error per bad plugin (2), got: %v", err)
	}
	for _, want := range []string{
		`job "imports" collector "hostile"`, "badimport.wasm", "env.steal_secret", "wasi_snapshot_preview1.sock_open",
		`job "notwasm" collector "hostile"`, "notwasm.wasm", "not a WebAssembly module",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), `job "fine"`) || strings.Contains(err.Error(), "good.wasm") {
		t.Errorf("error blames plugins that load:\n%v", err)
	}

	// Without the two bad collectors the same config loads and runs: the
	// other plugins were fine.
	imports.Collectors, notwasm.Collectors = imports.Collectors[:1], notwasm.Collectors[:1]
	cfg.Jobs = []config.Job{fine, imports, notwasm}
	a, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatalf("the loadable plugins alone: %v", err)
	}
	defer a.Close(context.Background())
	for _, name := range []string{"fine", "imports", "notwasm"} {
		c, err := a.Collect(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := hostileSuccess(families(c), hostileGood); !ok || v != 1 {
			t.Errorf("job %s: the good collector's success = %v (present %v)", name, v, ok)
		}
	}
}

// TestHostileLoadRefusesWrongImportSignature: an import of a host
// function under its right name but with the wrong signature is an import
// the host does not provide. docs/plugin-abi.md promises such a module is
// refused at load, naming each missing import. (This suite found that
// checkModule once compared names only, so such a module loaded and then
// failed every run with wazero's link error.)
func TestHostileLoadRefusesWrongImportSignature(t *testing.T) {
	f := newHostileFixture(t)
	defer f.close()
	cfg := &config.Config{
		Gateway: config.Gateway{URL: "http://127.0.0.1:1", Timeout: time.Second},
		Jobs:    []config.Job{f.job(hostileCase{name: "badsig", plugin: "badsig"})},
	}
	a, err := New(context.Background(), cfg, Options{})
	if err == nil {
		defer a.Close(context.Background())
		c, _ := a.Collect(context.Background(), "badsig")
		t.Fatalf("New accepted a module importing wasi_snapshot_preview1.fd_write (i32)->i32 and pushagent_v1.log (i64); "+
			"it fails every run instead: %v", hostileStatus(t, c, hostileBad).Err)
	}
	for _, want := range []string{`job "badsig" collector "hostile"`, "badsig.wasm", "wasi_snapshot_preview1.fd_write", "pushagent_v1.log"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestHostileLeaks runs one job holding every hostile collector many times
// and checks that goroutines and heap do not grow, then that closing the
// agent leaves no goroutine behind.
func TestHostileLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent() // before anything of this test starts
	f := newHostileFixture(t)
	cfg := &config.Config{Gateway: config.Gateway{URL: "http://127.0.0.1:1", Timeout: time.Second}}
	job := config.Job{Name: "hostile", Every: time.Minute, Method: "put", Grouping: map[string]string{"instance": "hostile"},
		Collectors: []config.Collector{f.good()}}
	var deadline, sum time.Duration
	for _, tc := range f.cases() {
		c := f.collector(tc.name, tc)
		// Shorter than in TestHostilePlugins, so that 50 runs stay
		// within seconds; every hostile collector still fails.
		c.Timeout = 100 * time.Millisecond
		deadline = max(deadline, c.Timeout)
		sum += c.Timeout
		job.Collectors = append(job.Collectors, c)
	}
	cfg.Jobs = []config.Job{job}
	// The log is scanned for the secret but not kept, so that it does
	// not count as heap growth.
	logs := &hostileLog{secret: []byte(f.secret)}
	a, err := New(context.Background(), cfg, Options{Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	run := func() time.Duration {
		start := time.Now()
		c, err := a.Collect(context.Background(), "hostile")
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range c.Statuses {
			if st.Success != (st.Collector == hostileGood) {
				t.Fatalf("collector %s: success %v (%v)", st.Collector, st.Success, st.Err)
			}
		}
		return time.Since(start)
	}
	// Warm up: transports, wazero's per-runtime state, the merge's
	// descriptors.
	for range 3 {
		run()
	}
	g0, h0 := hostileSettle(t)
	logged0 := logs.bytes()
	const runs = 50
	var slowest, total time.Duration
	for range runs {
		took := run()
		total += took
		slowest = max(slowest, took)
	}
	g1, h1 := hostileSettle(t)
	logged := (logs.bytes() - logged0) / runs
	t.Logf("%d runs of %d collectors: mean %v, slowest %v (longest timeout %v); goroutines %d -> %d; heap %.2f -> %.2f MiB; %d log bytes per run",
		runs, len(job.Collectors), (total / runs).Round(time.Millisecond), slowest.Round(time.Millisecond), deadline,
		g0, g1, float64(h0)/(1<<20), float64(h1)/(1<<20), logged)
	// Idle keep-alive connections to server A may come and go (two
	// goroutines each, at most 4 per host); anything per run would show
	// as 50 or more.
	if g1 > g0+8 {
		t.Errorf("goroutines grew from %d to %d over %d runs", g0, g1, runs)
	}
	if h1 > h0+8<<20 {
		t.Errorf("heap grew from %d to %d bytes over %d runs", h0, h1, runs)
	}
	if logs.leaked() {
		t.Error("SANDBOX ESCAPE: the secret reached the log")
	}
	if n := f.hitsB.Load(); n != 0 {
		t.Errorf("SANDBOX ESCAPE: %d requests reached the server the collectors may not reach", n)
	}
	f.checkMountUntouched(t)
	// At worst every collector runs to its deadline, maxConcurrentCollectors
	// at a time.
	if bound := sum/time.Duration(maxConcurrentCollectors) + deadline + hostileMargin; slowest > bound {
		t.Errorf("slowest run %v, past %v: the sum of the timeouts over %d concurrent collectors, + margin", slowest, bound, maxConcurrentCollectors)
	}
	// The stderr flood and the failures log a bounded amount per run.
	if logged > 64<<10 {
		t.Errorf("the agent logged %d bytes per run", logged)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Errorf("Close: %v", err)
	}
	f.close()
	goleak.VerifyNone(t, ignore)
}

// settle lets finished runs' goroutines exit and returns the goroutine
// count and the live heap.
func hostileSettle(t *testing.T) (int, uint64) {
	t.Helper()
	var g int
	for range 20 {
		runtime.GC()
		time.Sleep(25 * time.Millisecond)
		if n := runtime.NumGoroutine(); n == g {
			break
		} else {
			g = n
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}

// hostileLog is the agent's log during the suite: kept for assertions
// when retain is set, and always scanned for the secret.
type hostileLog struct {
	secret []byte
	retain bool

	mu     sync.Mutex
	buf    bytes.Buffer
	leaks  int
	nbytes int
}

func (l *hostileLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// slog handlers write one whole record per call, so a secret cannot
	// be split across calls.
	if bytes.Contains(b, l.secret) {
		l.leaks++
	}
	l.nbytes += len(b)
	if l.retain {
		l.buf.Write(b)
	}
	return len(b), nil
}

func (l *hostileLog) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *hostileLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
}

func (l *hostileLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *hostileLog) bytes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nbytes
}

func (l *hostileLog) leaked() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leaks > 0
}

func hostileStatus(t *testing.T, c *Collection, collector string) merge.Status {
	t.Helper()
	for _, st := range c.Statuses {
		if st.Collector == collector {
			return st
		}
	}
	t.Fatalf("no status for collector %s", collector)
	return merge.Status{}
}

// successValue is the pushed pushagent_collector_success of a collector.
func hostileSuccess(fams []*dto.MetricFamily, collector string) (float64, bool) {
	for _, f := range fams {
		if f.GetName() != merge.SuccessName {
			continue
		}
		for _, m := range f.Metric {
			for _, lp := range m.Label {
				if lp.GetName() == "collector" && lp.GetValue() == collector {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

func hostileFamilyNames(fams []*dto.MetricFamily) []string {
	names := make([]string, len(fams))
	for i, f := range fams {
		names[i] = f.GetName()
	}
	return names
}

func hostileText(t *testing.T, fams []*dto.MetricFamily) string {
	t.Helper()
	var b bytes.Buffer
	for _, f := range fams {
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			t.Fatalf("family %s: %v", f.GetName(), err)
		}
	}
	return b.String()
}

func hostileListDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name()
	}
	return names
}

func hostileMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func hostileFirstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func hostileLogLine(log, substr string) string {
	for line := range strings.Lines(log) {
		if strings.Contains(line, substr) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
