package config_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/agent/config"
)

const outputsConfig = `
gateway: {url: http://gw:9091}
outputs:
  gw2:
    pushgateway: {url: http://gw2:9091, timeout: 2s}
  tsdb:
    remote_write:
      url: http://mimir:9009/api/v1/push
      headers: {X-Scope-OrgID: tenant-1}
      bearer_token: tok
      timeout: 5s
      buffer: {dir: buffer/tsdb, max_size: 1GiB}
      queue_config: {min_backoff: 100ms, max_backoff: 10s}
  vm:
    remote_write:
      url: http://vm:8428/api/v1/write
      buffer: {dir: /var/lib/pushagent/vm}
shard: {index: pushagent-2, count: 3}
jobs:
  - name: probes
    every: 15s
    outputs: [tsdb]
    collectors: [{name: c, plugin: plugins/textfile.wasm}]
  - name: all
    every: 15s
    replicated: true
    grouping: {instance: "${HOSTNAME}"}
    collectors: [{name: c, plugin: plugins/textfile.wasm}]
`

func TestParseOutputs(t *testing.T) {
	dir, path := fixture(t)
	cfg, err := config.Parse([]byte(outputsConfig), path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range cfg.AllOutputs() {
		names = append(names, o.Name)
	}
	if !slices.Equal(names, []string{"gateway", "gw2", "tsdb", "vm"}) {
		t.Errorf("outputs = %v", names)
	}
	rw := cfg.Outputs[1].RemoteWrite
	if rw == nil || rw.URL != "http://mimir:9009/api/v1/push" || rw.Timeout != 5*time.Second || rw.BearerToken.Reveal() != "tok" ||
		rw.Headers["X-Scope-OrgID"].Reveal() != "tenant-1" || rw.Buffer.Dir != filepath.Join(dir, "buffer", "tsdb") || rw.Buffer.MaxSize != 1<<30 {
		t.Errorf("tsdb = %+v", rw)
	}
	if q := rw.Queue; q.MinBackoff != 100*time.Millisecond || q.MaxBackoff != 10*time.Second {
		t.Errorf("tsdb queue_config = %+v", q)
	}
	if vm := cfg.Outputs[2].RemoteWrite; vm.Timeout != 30*time.Second || vm.Buffer.MaxSize != 256<<20 ||
		vm.Queue.MinBackoff != 30*time.Millisecond || vm.Queue.MaxBackoff != 5*time.Second {
		t.Errorf("defaults of vm = %+v; want timeout 30s, max_size 256MiB, min_backoff 30ms and max_backoff 5s (Prometheus')", vm)
	}
	if gw2 := cfg.Outputs[0].Pushgateway; gw2 == nil || gw2.URL != "http://gw2:9091" || gw2.Timeout != 2*time.Second {
		t.Errorf("gw2 = %+v", gw2)
	}
	if s := cfg.Shard; s == nil || s.Index != 2 || s.Count != 3 {
		t.Errorf("shard = %+v, want index 2 (from the pod name) of 3", s)
	}
	if got := cfg.OutputsOf(cfg.Jobs[0]); !slices.Equal(got, []string{"tsdb"}) {
		t.Errorf("outputs of probes = %v", got)
	}
	if got := cfg.OutputsOf(cfg.Jobs[1]); len(got) != 4 {
		t.Errorf("outputs of all = %v, want every output", got)
	}
	if !cfg.Owned(cfg.Jobs[1]) {
		t.Error("a replicated job must run on every shard")
	}
}

func TestOutputsErrors(t *testing.T) {
	jobs := "jobs:\n  - {name: j, every: 1s, outputs: [tdsb], collectors: [" + col + "]}\n"
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{{
		name: "unknown output with a suggestion",
		yaml: "outputs:\n  tsdb: {remote_write: {url: http://x/api/v1/write, buffer: {dir: b}}}\n" + jobs,
		want: []string{`$FILE:4: jobs[0].outputs[0]: names no output (did you mean "tsdb"?); the outputs are tsdb`},
	}, {
		name: "both kinds in one output",
		yaml: "outputs:\n  o: {pushgateway: {url: http://gw:9091}, remote_write: {url: http://x/w, buffer: {dir: b}}}\n" + job("    every: 1s\n", col),
		want: []string{`$FILE:2: outputs.o: set either pushgateway or remote_write, not both; make two outputs to send to both`},
	}, {
		name: "remote_write without buffer, misspelt key",
		yaml: "outputs:\n  o:\n    remote_write: {url: http://x/w, timeot: 1s}\n" + job("    every: 1s\n", col),
		want: []string{
			`$FILE:3: outputs.o.remote_write.buffer: is required; remote_write keeps what the receiver has not accepted yet on disk: set buffer: {dir: /var/lib/pushagent/<output>}`,
			`$FILE:3: outputs.o.remote_write.timeot: unknown key (did you mean "timeout"?); valid keys here are url, timeout, headers, buffer, queue_config, protocol, basic_auth, bearer_token, bearer_token_file, tls, external_labels, write_relabel_configs`,
		},
	}, {
		name: "two outputs on one buffer, bad size, protocol header",
		yaml: "outputs:\n  a: {remote_write: {url: http://x/w, buffer: {dir: b}}}\n  b: {remote_write: {url: http://y/w, headers: {Content-Type: x}, buffer: {dir: b, max_size: 1KiB}}}\n" + job("    every: 1s\n", col),
		want: []string{
			`$FILE:3: outputs.b.remote_write.buffer.dir: is also the buffer of outputs.a; each remote_write or otlp output needs its own directory`,
			`$FILE:3: outputs.b.remote_write.buffer.max_size: must be between 1MiB and 1024GiB, got "1KiB"`,
			`$FILE:3: outputs.b.remote_write.headers.Content-Type: is set by the agent for the remote-write protocol; remove it`,
		},
	}, {
		name: "min_backoff above max_backoff, a bad duration",
		yaml: "outputs:\n  a:\n    remote_write:\n      url: http://x/w\n      buffer: {dir: b}\n      queue_config: {min_backoff: 10s, max_backoff: 1s}\n" +
			"  b: {remote_write: {url: http://y/w, buffer: {dir: c}, queue_config: {max_backoff: 0s}}}\n" + job("    every: 1s\n", col),
		want: []string{
			`$FILE:6: outputs.a.remote_write.queue_config.min_backoff: 10s is more than max_backoff 1s; the wait grows from min_backoff to max_backoff`,
			`$FILE:7: outputs.b.remote_write.queue_config.max_backoff: must be a positive duration, got "0s"`,
		},
	}, {
		name: "gateway twice",
		yaml: gw + "outputs:\n  gateway: {pushgateway: {url: http://gw2:9091}}\n" + job("    every: 1s\n", col),
		want: []string{`$FILE:3: outputs.gateway: the top-level gateway section is already the output named "gateway"; rename this output or move the gateway section here`},
	}, {
		name: "shard index out of range and not a pod name",
		yaml: gw + "shard: {index: pushagent-3, count: 3}\n" + job("    every: 1s\n", col),
		want: []string{`$FILE:2: shard.index: must be from 0 to 2 (count - 1), got 3; a pod name's ordinal counts too`},
	}, {
		name: "shard index not a number",
		yaml: gw + "shard: {index: web, count: 3}\n" + job("    every: 1s\n", col),
		want: []string{`$FILE:2: shard.index: expected a number or a StatefulSet pod name ending in -<ordinal> like pushagent-2, got "web"`},
	}, {
		name: "shard without count",
		yaml: gw + "shard: {index: 0}\n" + job("    every: 1s\n", col),
		want: []string{`$FILE:2: shard.count: is required; set how many agents share the jobs, like count: 3`},
	}} {
		t.Run(tc.name, func(t *testing.T) { checkParseError(t, tc.yaml, nil, tc.want) })
	}
}

// TestShardsSplitJobsAndResizeMovesFew: every job has exactly one owner
// among count agents, each agent gets a fair share, and growing from 3 to
// 4 agents moves about a quarter of the jobs (a modulo hash would move
// three quarters).
func TestShardsSplitJobsAndResizeMovesFew(t *testing.T) {
	const jobs = 2000
	owner := func(count int) []int {
		o := make([]int, jobs)
		for i := range jobs {
			name := fmt.Sprintf("job-%d", i)
			owners := 0
			for idx := range count {
				if (&config.Shard{Index: idx, Count: count}).Owns(name) {
					owners++
					o[i] = idx
				}
			}
			if owners != 1 {
				t.Fatalf("%s has %d owners among %d", name, owners, count)
			}
		}
		return o
	}
	three, four := owner(3), owner(4)
	share := make([]int, 3)
	moved := 0
	for i := range jobs {
		share[three[i]]++
		if three[i] != four[i] {
			moved++
			if four[i] != 3 {
				t.Fatalf("job-%d moved between old shards (%d to %d); only moves to the new one are needed", i, three[i], four[i])
			}
		}
	}
	for i, n := range share {
		if n < jobs/3*85/100 || n > jobs/3*115/100 {
			t.Errorf("shard %d of 3 owns %d of %d jobs; want about a third", i, n, jobs)
		}
	}
	if moved > jobs*30/100 || moved < jobs*20/100 {
		t.Errorf("growing 3 to 4 shards moved %d of %d jobs; want about a quarter", moved, jobs)
	}
}

// TestCheckBufferDirs: validate's check of the buffer directories passes
// for one that exists or can be made, leaving no trace, and fails for one
// the agent cannot create or write, naming the key's file and line, the
// directory, and what to do.
func TestCheckBufferDirs(t *testing.T) {
	dir, path := fixture(t)
	notDir := filepath.Join(dir, "afile")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "existing")
	if err := os.MkdirAll(existing, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(existing, "00000000"), []byte("segment"), 0o640); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`outputs:
  fresh: {remote_write: {url: http://x/w, buffer: {dir: new/deep/buffer}}}
  existing: {remote_write: {url: http://x/w, buffer: {dir: existing}}}
  gw: {pushgateway: {url: http://gw:9091}}
  blocked:
    remote_write:
      url: http://x/w
      buffer:
        dir: %s/buffer
jobs:
  - {name: j, every: 1s, collectors: [%s]}
`, notDir, col)
	cfg, err := config.Parse([]byte(yaml), path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.CheckBufferDirs()
	var ce *config.Error
	if !errors.As(err, &ce) || len(ce.Problems) != 1 {
		t.Fatalf("err = %v, want one problem, of blocked", err)
	}
	want := fmt.Sprintf("%s:9: outputs.blocked.remote_write.buffer.dir: the agent cannot create or write %s/buffer: stat %s/buffer: not a directory; "+
		"create it writable by the agent's user (uid %d runs this check), or in a container mount a volume there owned by the image's user, like a volume at /var/lib/pushagent owned by 65532",
		path, notDir, notDir, os.Getuid())
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
	// No trace: what did not exist still does not, what did is unchanged.
	if _, err := os.Stat(filepath.Join(dir, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the check left %s behind (%v)", filepath.Join(dir, "new"), err)
	}
	if entries, _ := os.ReadDir(existing); len(entries) != 1 {
		t.Errorf("the check changed %s: %v", existing, entries)
	}

	// An otlp output's buffer is checked the same way, named by its key.
	cfg, err = config.Parse([]byte(fmt.Sprintf("outputs:\n  otel: {otlp: {url: http://x/v1/metrics, buffer: {dir: %s/buffer}}}\njobs:\n  - {name: j, every: 1s, collectors: [%s]}\n", notDir, col)), path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.CheckBufferDirs(); err == nil || !strings.Contains(err.Error(), ":2: outputs.otel.otlp.buffer.dir: the agent cannot create or write") {
		t.Errorf("an otlp buffer under a file: %v", err)
	}

	if os.Getuid() == 0 {
		return // root writes anywhere; the case above fails for root too
	}
	readOnly := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	cfg, err = config.Parse([]byte(fmt.Sprintf("outputs:\n  tsdb: {remote_write: {url: http://x/w, buffer: {dir: %s/buffer}}}\njobs:\n  - {name: j, every: 1s, collectors: [%s]}\n", readOnly, col)), path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.CheckBufferDirs(); err == nil || !strings.Contains(err.Error(), "permission denied") || !strings.Contains(err.Error(), ":2: outputs.tsdb.remote_write.buffer.dir") {
		t.Errorf("a directory under a read-only one: %v", err)
	}
}
