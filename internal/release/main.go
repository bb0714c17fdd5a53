// Command release writes pushagent's release files from binaries and
// plugins `make release` has built: a tarball per platform, .deb and .rpm
// packages for Linux (built with nfpm as a library, so no packaging tool
// needs installing) and SHA256SUMS. Run it through the Makefile:
//
//	make release
//
// It must never build anything itself (the Makefile owns the build flags
// and their version information) and never write outside -out.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
	"go.yaml.in/yaml/v3"
)

// Where the packages install things. The systemd unit and the scripts
// beside this file name the same paths.
const (
	binPath    = "/usr/bin/pushagent"
	pluginDir  = "/usr/lib/pushagent/plugins"
	configPath = "/etc/pushagent/schedules.yaml"
	unitPath   = "/usr/lib/systemd/system/pushagent.service"
	docDir     = "/usr/share/doc/pushagent"
	stateDir   = "/var/lib/pushagent"
)

// packagedPaths maps the relative paths of the bundled schedules.yaml
// (relative to the checkout, where `make build` puts the plugins) to where
// the packages put them: the config is installed in /etc/pushagent, away
// from the plugins. A relative path not listed here fails the release, so
// a new bundled job cannot ship a config that does not load.
var packagedPaths = map[string]string{
	"plugins":           pluginDir,
	"examples/textfile": stateDir + "/textfile",
}

var (
	//go:embed pushagent.service
	unit []byte
	//go:embed preinstall.sh
	preinstall []byte
	//go:embed postinstall.sh
	postinstall []byte
	//go:embed preremove.sh
	preremove []byte
)

// platforms are the release's targets, GOOS/GOARCH; the Makefile builds
// a binary for each into -bin/GOOS_GOARCH/pushagent.
var platforms = []string{"linux/amd64", "linux/arm64", "darwin/arm64", "darwin/amd64"}

type release struct {
	version string
	src     string // the checkout: schedules.yaml, LICENSE, README.md, examples/textfile
	bin     string
	plugins []string
	out     string
	mtime   time.Time // of every file in the archives: the commit's time, not the build's
}

func main() {
	r := release{}
	flag.StringVar(&r.version, "version", "", "the release's version, as `git describe` gives it without the v (required)")
	flag.StringVar(&r.src, "src", ".", "the checkout")
	flag.StringVar(&r.bin, "bin", "", "directory with GOOS_GOARCH/pushagent for each platform (required)")
	flag.StringVar(&r.out, "out", "dist/release", "directory to write the release files into")
	mtime := flag.Int64("mtime", 0, "modification time of the archived files, Unix seconds (the commit's time); 0 is now")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: release -version V -bin DIR [-out DIR] [-mtime SECONDS] PLUGIN.wasm...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	r.plugins = flag.Args()
	r.mtime = time.Unix(*mtime, 0).UTC()
	if *mtime == 0 {
		r.mtime = time.Now().UTC().Truncate(time.Second)
	}
	if r.version == "" || r.bin == "" || len(r.plugins) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := r.write(); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func (r release) write() error {
	if err := os.MkdirAll(r.out, 0o755); err != nil {
		return err
	}
	var written []string
	for _, p := range platforms {
		goos, goarch, _ := strings.Cut(p, "/")
		bin := filepath.Join(r.bin, goos+"_"+goarch, "pushagent")
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s: the agent for %s is not built (make release builds it): %w", bin, p, err)
		}
		name, err := r.tarball(goos, goarch, bin)
		if err != nil {
			return fmt.Errorf("tarball for %s: %w", p, err)
		}
		written = append(written, name)
		if goos != "linux" {
			continue
		}
		for _, format := range []string{"deb", "rpm"} {
			name, err := r.pkg(format, goarch, bin)
			if err != nil {
				return fmt.Errorf("%s for %s: %w", format, p, err)
			}
			written = append(written, name)
		}
	}
	if err := r.checksums(written); err != nil {
		return err
	}
	for _, name := range append(written, "SHA256SUMS") {
		fmt.Println(filepath.Join(r.out, name))
	}
	return nil
}

// tarball writes pushagent-VERSION.GOOS-GOARCH.tar.gz, which unpacks into
// a directory of that name holding the agent, the plugins, the bundled
// schedules.yaml (its relative paths resolve there), the textfile example
// it reads, LICENSE and README.md, as Prometheus' own tarballs do.
func (r release) tarball(goos, goarch, bin string) (string, error) {
	dir := fmt.Sprintf("pushagent-%s.%s-%s", r.version, goos, goarch)
	type entry struct{ src, dst string }
	entries := []entry{{bin, "pushagent"}}
	for _, p := range r.plugins {
		entries = append(entries, entry{p, "plugins/" + filepath.Base(p)})
	}
	for _, f := range []string{"schedules.yaml", "LICENSE", "README.md"} {
		entries = append(entries, entry{filepath.Join(r.src, f), f})
	}
	examples, err := filepath.Glob(filepath.Join(r.src, "examples", "textfile", "*"))
	if err != nil || len(examples) == 0 {
		return "", fmt.Errorf("examples/textfile: the bundled config's textfile job reads it, and it is empty or missing (%v)", err)
	}
	for _, f := range examples {
		entries = append(entries, entry{f, "examples/textfile/" + filepath.Base(f)})
	}

	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	dirs := map[string]bool{}
	for _, e := range entries {
		for d := path.Dir(e.dst); ; d = path.Dir(d) {
			if d == "." || dirs[d] {
				break
			}
			dirs[d] = true
		}
	}
	for _, d := range append(slices.Sorted(maps.Keys(dirs)), "") {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: path.Join(dir, d) + "/", Mode: 0o755, ModTime: r.mtime, Format: tar.FormatPAX}); err != nil {
			return "", err
		}
	}
	for _, e := range entries {
		b, err := os.ReadFile(e.src)
		if err != nil {
			return "", err
		}
		mode := int64(0o644)
		if e.dst == "pushagent" {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path.Join(dir, e.dst), Mode: mode, Size: int64(len(b)), ModTime: r.mtime, Format: tar.FormatPAX}); err != nil {
			return "", err
		}
		if _, err := tw.Write(b); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := gz.Close(); err != nil {
		return "", err
	}
	name := dir + ".tar.gz"
	return name, os.WriteFile(filepath.Join(r.out, name), buf.Bytes(), 0o644)
}

// pkg writes the .deb or .rpm for one Linux architecture.
func (r release) pkg(format, goarch, bin string) (string, error) {
	staging, err := os.MkdirTemp("", "pushagent-release-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(staging)
	stage := func(name string, data []byte) (string, error) {
		p := filepath.Join(staging, name)
		return p, os.WriteFile(p, data, 0o644)
	}
	cfg, err := r.packagedConfig()
	if err != nil {
		return "", err
	}
	staged := map[string][]byte{"schedules.yaml": cfg, "pushagent.service": unit, "preinstall.sh": preinstall, "postinstall.sh": postinstall, "preremove.sh": preremove}
	// The checkout's files are read once, like the tarball's, so that a
	// file edited while the release runs cannot change size under nfpm.
	for _, name := range []string{"README.md", "LICENSE"} {
		if staged[name], err = os.ReadFile(filepath.Join(r.src, name)); err != nil {
			return "", err
		}
	}
	paths := map[string]string{}
	for name, data := range staged {
		if paths[name], err = stage(name, data); err != nil {
			return "", err
		}
	}

	file := func(src, dst string, mode fs.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode}}
	}
	contents := files.Contents{
		file(bin, binPath, 0o755),
		file(paths["pushagent.service"], unitPath, 0o644),
		file(paths["README.md"], docDir+"/README.md", 0o644),
		file(paths["LICENSE"], docDir+"/LICENSE", 0o644),
		// The config may come to hold credentials: readable by root and
		// the service's group only. The group exists by then: the
		// preinstall script makes it.
		{Source: paths["schedules.yaml"], Destination: configPath, Type: files.TypeConfigNoReplace,
			FileInfo: &files.ContentFileInfo{Mode: 0o640, Owner: "root", Group: "pushagent"}},
	}
	for _, p := range r.plugins {
		contents = append(contents, file(p, pluginDir+"/"+filepath.Base(p), 0o644))
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:        "pushagent",
		Arch:        goarch,
		Platform:    "linux",
		Version:     r.version,
		Section:     "net",
		Priority:    "optional",
		Maintainer:  "The pushagent authors",
		Description: "Collects metrics with sandboxed WebAssembly plugins on a schedule and pushes them\nto a Prometheus Pushgateway and remote_write receivers.",
		Homepage:    "https://github.com/pushagent/pushagent",
		License:     "Apache-2.0",
		MTime:       r.mtime,
		Overridables: nfpm.Overridables{
			Contents: contents,
			Scripts: nfpm.Scripts{
				PreInstall:  paths["preinstall.sh"],
				PostInstall: paths["postinstall.sh"],
				PreRemove:   paths["preremove.sh"],
			},
			RPM: nfpm.RPM{Group: "System Environment/Daemons", Summary: "Metrics from sandboxed WebAssembly plugins, pushed to Prometheus"},
		},
	})
	// ExecReload's /bin/kill: procps on Debian, util-linux on RPM systems.
	info.Depends = map[string][]string{"deb": {"procps"}, "rpm": {"util-linux"}}[format]
	packager, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", err
	}
	name := packager.ConventionalFileName(info)
	var buf bytes.Buffer
	if err := packager.Package(info, &buf); err != nil {
		return "", err
	}
	return name, os.WriteFile(filepath.Join(r.out, name), buf.Bytes(), 0o644)
}

// packagedConfig is the bundled schedules.yaml with its relative paths
// made absolute for where the packages install things (packagedPaths),
// comments kept, so /etc/pushagent/schedules.yaml loads as installed.
func (r release) packagedConfig() ([]byte, error) {
	src := filepath.Join(r.src, "schedules.yaml")
	b, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty", src)
	}
	var errs []error
	rewrite := func(n *yaml.Node, what string) {
		if n.Kind != yaml.ScalarNode || filepath.IsAbs(n.Value) {
			return
		}
		for rel, abs := range packagedPaths {
			if n.Value == rel || strings.HasPrefix(n.Value, rel+"/") {
				n.Value = abs + strings.TrimPrefix(n.Value, rel)
				return
			}
		}
		errs = append(errs, fmt.Errorf("%s:%d: %s %q is relative, and the packages install nothing there: add it to internal/release's packagedPaths", src, n.Line, what, n.Value))
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				switch {
				case k.Value == "plugin":
					rewrite(v, "plugin")
				case k.Value == "mounts" && v.Kind == yaml.MappingNode:
					for j := 1; j < len(v.Content); j += 2 {
						rewrite(v.Content[j], "mount")
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// The bundled file's opening comment says its paths are relative to
	// it; here they are not. yaml.v3 keeps that comment on the document
	// or on its first key, depending on the blank lines after it.
	for n := &doc; ; n = n.Content[0] {
		n.HeadComment = strings.Replace(n.HeadComment, " Paths are relative to this file.", "", 1)
		if len(n.Content) == 0 {
			break
		}
	}
	doc.HeadComment = "# Installed by the pushagent package as " + configPath + ": the bundled\n" +
		"# config with its paths made absolute (plugins in " + pluginDir + ",\n" +
		"# *.prom files in " + packagedPaths["examples/textfile"] + "). The gateway's URL and\n" +
		"# the variables below go in /etc/default/pushagent (RPM: /etc/sysconfig/pushagent),\n" +
		"# e.g. PUSHGATEWAY_URL=http://pushgateway:9091. Check the file as the service\n" +
		"# runs it (and warm its cache):\n" +
		"#   sudo -u pushagent pushagent validate --config " + configPath + " --cache-dir " + stateDir + "/cache\n" +
		"# Buffers of remote_write outputs belong in " + stateDir + "/<output>, the\n" +
		"# one directory the service may write.\n#\n" + doc.HeadComment
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return out.Bytes(), enc.Close()
}

// checksums writes SHA256SUMS in the format `sha256sum -c` reads.
func (r release) checksums(names []string) error {
	var b strings.Builder
	for _, name := range slices.Sorted(slices.Values(names)) {
		f, err := os.Open(filepath.Join(r.out, name))
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		b.WriteString(hex.EncodeToString(h.Sum(nil)) + "  " + name + "\n")
	}
	return os.WriteFile(filepath.Join(r.out, "SHA256SUMS"), []byte(b.String()), 0o644)
}
