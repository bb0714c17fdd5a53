package main

import (
	"bytes"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/pushagent/pushagent/sdk"
)

const pluginUsage = `Usage:
  pushagent plugin new [--module PATH] DIR
                       create a Go collector plugin module in DIR (a new or
                       empty directory): main.go, a test, a Makefile that
                       builds DIR/<name>.wasm, a schedules.yaml to try it with
                       'pushagent once', a README, and a copy of the SDK, so
                       that it builds offline
  pushagent plugin run [--config JSON] [--mount GUEST=HOST] [--env NAME]
                       [--allow-host HOST] [--timeout D] [--memory-limit S]
                       FILE.wasm
                       run the plugin once, sandboxed with those grants only,
                       and print the metrics it returns, or why it failed
`

func cmdPlugin(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, pluginUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "new":
		return cmdPluginNew(args[1:], stdout, stderr)
	case "run":
		return cmdPluginRun(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "pushagent plugin: unknown subcommand %q\n\n%s", args[0], pluginUsage)
	return exitUsage
}

func cmdPluginNew(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("plugin new", flag.ContinueOnError)
	module := flags.String("module", "", "Go module path of the plugin (default example.com/<name>)")
	dir, code, ok := parseFlagsWithArg(flags, args, stderr, pluginUsage, "one directory")
	if !ok {
		return code
	}
	s, err := newScaffold(dir, *module)
	if err != nil {
		fmt.Fprintln(stderr, "pushagent plugin new:", err)
		return exitUsage
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		fmt.Fprintf(stderr, "pushagent plugin new: %s exists and is not empty; name a new directory\n", dir)
		return exitUsage
	}
	if err := s.write(dir); err != nil {
		fmt.Fprintln(stderr, "pushagent plugin new:", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, `created the Go plugin module %s in %s (the SDK it builds with is in %s)
next:
  cd %s
  make test   # run the collector natively
  make        # build %s.wasm
  make run    # run it once in the agent and print what it would push
`, s.Module, dir, filepath.Join(dir, s.SDKDir), dir, s.Name)
	return exitOK
}

// The templates of a new plugin module. Files are written under their
// template's name without ".tmpl"; gitignore becomes .gitignore, since
// embed leaves out dot files.
//
//go:embed scaffold
var scaffoldFS embed.FS

// scaffold is what the templates are filled with.
type scaffold struct {
	Name      string // plugin name: the directory's base name, the .wasm's and the job's name
	Prefix    string // metric name prefix: Name with '-' as '_'
	Module    string // the plugin's Go module path
	GoVersion string // the SDK module's go directive: the oldest Go that builds it
	SDKDir    string // where the SDK copy goes, relative to the plugin
}

var pluginName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

func newScaffold(dir, module string) (*scaffold, error) {
	name := filepath.Base(filepath.Clean(dir))
	if !pluginName.MatchString(name) {
		return nil, fmt.Errorf("%s: the directory's name %q is the plugin's name, which must be lower case letters, digits, '_' and '-', starting with a letter (it names the .wasm file, the job and the metrics)", dir, name)
	}
	if module == "" {
		module = "example.com/" + name
	}
	gover, err := sdkGoVersion()
	if err != nil {
		return nil, err
	}
	return &scaffold{
		Name:      name,
		Prefix:    strings.ReplaceAll(name, "-", "_"),
		Module:    module,
		GoVersion: gover,
		SDKDir:    "pushagent-sdk",
	}, nil
}

// sdkGoVersion reads the go directive of the embedded SDK's go.mod, so
// that the plugin asks for no newer Go than the SDK does.
func sdkGoVersion() (string, error) {
	b, err := sdk.Source.ReadFile("go.mod")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", errors.New("the embedded SDK's go.mod has no go directive")
}

// write creates dir and the module in it.
func (s *scaffold) write(dir string) error {
	files := map[string][]byte{}
	err := fs.WalkDir(scaffoldFS, "scaffold", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := scaffoldFS.ReadFile(p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, "scaffold/")
		if name, ok := strings.CutSuffix(rel, ".tmpl"); ok {
			tmpl, err := template.New(rel).Option("missingkey=error").Parse(string(b))
			if err != nil {
				return fmt.Errorf("template %s: %w", rel, err)
			}
			var buf bytes.Buffer
			if err := tmpl.Execute(&buf, s); err != nil {
				return fmt.Errorf("template %s: %w", rel, err)
			}
			b, rel = buf.Bytes(), name
		}
		if rel == "gitignore" {
			rel = ".gitignore"
		}
		files[rel] = b
		return nil
	})
	if err != nil {
		return err
	}
	// The SDK's own source, without its tests: the plugin builds against
	// exactly the SDK this agent was built with.
	err = fs.WalkDir(sdk.Source, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := sdk.Source.ReadFile(p)
		if err != nil {
			return err
		}
		files[path.Join(s.SDKDir, p)] = b
		return nil
	})
	if err != nil {
		return err
	}
	for rel, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
