package config_test

import (
	"fmt"

	"github.com/pushagent/pushagent/agent/config"
)

// Every problem is reported at once, one per line, with the file, the line
// and the YAML path.
func ExampleError() {
	_, err := config.Parse([]byte(`
gateway:
  url: http://127.0.0.1:9091
  timout: 10s
jobs:
  - name: faust-workers
    every: 15
    grouping: {job: x}
    collectors:
      - name: queue
        plugin: /nonexistent/textfile.wasm
        timeout: -1s
`), "schedules.yaml", config.Options{
		Environ:  func() []string { return nil },
		Hostname: func() (string, error) { return "host-1", nil },
	})
	fmt.Println(err)
	// Output:
	// schedules.yaml:4: gateway.timout: unknown key (did you mean "timeout"?); valid keys here are url, timeout, basic_auth, bearer_token, bearer_token_file, tls, external_labels, write_relabel_configs
	// schedules.yaml:7: jobs[0].every: expected a duration like 15s, got 15 (a number)
	// schedules.yaml:8: jobs[0].grouping.job: "job" cannot be a grouping label: the job's name is its job label; remove it
	// schedules.yaml:11: jobs[0].collectors[0].plugin: plugin file "/nonexistent/textfile.wasm": no such file; check the path (relative paths are resolved from the config file's directory)
	// schedules.yaml:12: jobs[0].collectors[0].timeout: must be a positive duration, got "-1s"
}
