// Command textfile is a pushagent plugin that relays metrics written to
// *.prom files, like node_exporter's textfile collector: cron jobs and
// scripts drop a file, the plugin reads the directory on every run.
//
// It only ever reads the one directory named in its config, which the host
// mounts read-only; it never writes. It relays the files' text through the
// SDK's parser and never decodes it into another representation, so the
// module links nothing but the SDK and a few small standard packages.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pushagent/pushagent/sdk"
)

type config struct {
	// Directory is a guest path: where the collector's mounts put the host
	// directory holding the *.prom files.
	Directory string `json:"directory"`
}

const (
	mtimeName       = "node_textfile_mtime_seconds"
	scrapeErrorName = "node_textfile_scrape_error"
)

func init() { sdk.Register(collect) }

func main() { sdk.Main() }

func collect(c *sdk.Collection) error {
	cfg := config{Directory: "/textfile"}
	if err := c.DecodeConfig(&cfg); err != nil {
		return err
	}
	if cfg.Directory == "" {
		return errors.New(`config: "directory" must not be empty`)
	}
	// A missing directory fails the run instead of reporting nothing: it is
	// almost always a forgotten or mistyped mount.
	entries, err := os.ReadDir(cfg.Directory)
	if err != nil {
		return fmt.Errorf("reading textfile directory: %w (is it mounted?)", err)
	}
	m := merger{c: c, byName: map[string]*merged{}}
	mtime := c.Gauge(mtimeName, "Unixtime mtime of textfiles successfully read.")
	// One read buffer serves all files: the parser copies what it keeps.
	var buf bytes.Buffer
	// os.ReadDir sorts by name, so logs and merges are deterministic.
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".prom") {
			continue
		}
		t, err := m.readFile(filepath.Join(cfg.Directory, e.Name()), &buf)
		if err != nil {
			c.Logger().Warn("skipping file", "file", e.Name(), "err", err)
			m.failed = true
			continue
		}
		mtime.Set(float64(t), "file", e.Name())
	}
	for _, f := range m.order {
		if f.help != "" {
			continue
		}
		// The text format makes HELP optional, but a help text that names
		// the files tells whoever finds the metric where it came from. A
		// family without samples adds nothing but its help, which fills
		// in the missing one.
		help := &sdk.Family{Name: f.name, Type: f.typ, Help: "Metric read from " + strings.Join(f.files, ", ")}
		if err := c.AddFamily(help); err != nil {
			c.Logger().Warn("setting help", "metric", f.name, "err", err)
		}
	}
	scrapeErr := 0.0
	if m.failed {
		scrapeErr = 1
	}
	c.Gauge(scrapeErrorName, "1 if there was an error opening or reading a file, 0 otherwise").Set(scrapeErr)
	return nil
}

// merger adds the families of all files to the collection. A file
// contributes a family only if it agrees with what earlier files said about
// it; otherwise that family of that file is skipped, so one bad file cannot
// hide the others. The collection checks each family by the SDK's rules as
// it is added; merger checks first what it can say better, naming the files
// a family conflicts with.
type merger struct {
	c      *sdk.Collection
	byName map[string]*merged
	order  []*merged // byName's values in the order they were first added
	failed bool
}

// merged is what the files added so far said about one metric.
type merged struct {
	name  string
	typ   sdk.Type
	help  string
	files []string
	// first is the first file's family, kept until a second file adds the
	// metric; only then are the series keys computed, so that the common
	// case, a metric in one file, costs no keys at all.
	first  *sdk.Family
	series map[string]bool
}

// readFile parses one file and merges it, returning its mtime in whole
// seconds, as node_exporter does. buf is scratch space for the content.
func (m *merger) readFile(path string, buf *bytes.Buffer) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	buf.Reset()
	buf.Grow(int(st.Size()) + bytes.MinRead)
	if _, err := buf.ReadFrom(f); err != nil {
		return 0, err
	}
	families, err := sdk.ParseText(buf.Bytes())
	if err != nil {
		return 0, fmt.Errorf("parsing: %w", err)
	}
	file := filepath.Base(path)
	for _, fam := range families {
		if err := m.add(file, fam); err != nil {
			m.c.Logger().Warn("skipping metric", "file", file, "metric", fam.Name, "err", err)
			m.failed = true
		}
	}
	return st.ModTime().Unix(), nil
}

// add adds one family of file to the collection, or says why not.
func (m *merger) add(file string, f *sdk.Family) error {
	if f.Name == mtimeName || f.Name == scrapeErrorName {
		return errors.New("the name is reserved for the textfile plugin's own metrics")
	}
	if n := f.DropTimestamps(); n > 0 {
		m.c.Logger().Warn("dropped sample timestamps; the Pushgateway rejects timestamped samples",
			"file", file, "metric", f.Name, "samples", n)
	}
	prev := m.byName[f.Name]
	var keys []string
	if prev != nil {
		if prev.typ != f.Type {
			return fmt.Errorf("type %s differs from %s in %s", upper(f.Type), upper(prev.typ), strings.Join(prev.files, ", "))
		}
		if prev.help != "" && f.Help != "" && prev.help != f.Help {
			return fmt.Errorf("help %q differs from %q in %s", f.Help, prev.help, strings.Join(prev.files, ", "))
		}
		if prev.series == nil {
			prev.series = make(map[string]bool)
			for _, k := range seriesKeys(prev.first, nil) {
				prev.series[k] = true
			}
			prev.first = nil
		}
		keys = seriesKeys(f, nil)
		for _, k := range keys {
			if prev.series[k] {
				return fmt.Errorf("series {%s} is already present in %s", k, strings.Join(prev.files, ", "))
			}
		}
	}
	// The SDK checks the rest: within the file, no series twice; names,
	// values, buckets and quantiles by its rules.
	if err := m.c.AddFamily(f); err != nil {
		return err
	}
	if prev == nil {
		prev = &merged{name: f.Name, typ: f.Type, first: f}
		m.byName[f.Name] = prev
		m.order = append(m.order, prev)
	}
	for _, k := range keys {
		prev.series[k] = true
	}
	if prev.help == "" {
		prev.help = f.Help
	}
	prev.files = append(prev.files, file)
	return nil
}

// upper names a type in capitals, COUNTER, GAUGE, …, as the SDK's own
// errors do.
func upper(t sdk.Type) string { return strings.ToUpper(t.String()) }

// seriesKeys appends to keys the identity of each series of f: its labels
// sorted by name, without the le or quantile label that tells the samples
// of one histogram or summary series apart, written name="value",… A
// histogram's or summary's series has several samples, so its key may
// appear several times.
func seriesKeys(f *sdk.Family, keys []string) []string {
	skip := ""
	switch f.Type {
	case sdk.TypeHistogram:
		skip = "le"
	case sdk.TypeSummary:
		skip = "quantile"
	}
	var labels []sdk.Label
	var b []byte
	for i := range f.Samples {
		labels = labels[:0]
		for _, l := range f.Samples[i].Labels {
			if l.Name != skip {
				labels = append(labels, l)
			}
		}
		// Insertion sort: a series has few labels, usually sorted already.
		for j := 1; j < len(labels); j++ {
			for k := j; k > 0 && labels[k].Name < labels[k-1].Name; k-- {
				labels[k], labels[k-1] = labels[k-1], labels[k]
			}
		}
		b = b[:0]
		for j, l := range labels {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, l.Name...)
			b = append(b, '=')
			b = strconv.AppendQuote(b, l.Value)
		}
		keys = append(keys, string(b))
	}
	return keys
}
