// Command sandbox is a test plugin (command form) that probes what the
// sandbox lets it see. Its config is a list of probes; it prints one
// sample per probe with ok=1 when the operation succeeded.
//
// Built by the tests: GOOS=wasip1 GOARCH=wasm go build -o sandbox.wasm ./testdata/sandbox
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

type probe struct {
	Op   string `json:"op"` // read, write, env, list
	Path string `json:"path"`
}

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "read stdin:", err)
		os.Exit(1)
	}
	var probes []probe
	if err := json.Unmarshal(in, &probes); err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		os.Exit(1)
	}
	fmt.Println("# TYPE sandbox_probe gauge")
	for i, p := range probes {
		var err error
		detail := ""
		switch p.Op {
		case "read":
			var b []byte
			b, err = os.ReadFile(p.Path)
			detail = string(b)
		case "write":
			err = os.WriteFile(p.Path, []byte("x"), 0o644)
		case "env":
			detail = fmt.Sprint(len(os.Environ()), ":", os.Getenv(p.Path))
		case "list":
			var es []os.DirEntry
			es, err = os.ReadDir(p.Path)
			detail = fmt.Sprint(len(es))
		}
		ok := 1
		if err != nil {
			ok = 0
			fmt.Fprintf(os.Stderr, "probe %d %s %s: %v\n", i, p.Op, p.Path, err)
		}
		fmt.Printf("sandbox_probe{i=\"%d\",op=%q,detail=%q} %d\n", i, p.Op, detail, ok)
	}
}
