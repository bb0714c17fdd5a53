// Command textfile is a pushagent plugin that relays metrics written to
// *.prom files, like node_exporter's textfile collector: cron jobs and
// scripts drop a file, the plugin reads the directory on every run.
//
// It only ever reads the one directory named in its config, which the host
// mounts read-only; it never writes.
package main

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

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
	m := merger{c: c, families: map[string]*merged{}}
	mtime := c.Gauge(mtimeName, "Unixtime mtime of textfiles successfully read.")
	for _, e := range entries { // os.ReadDir sorts by name, so logs and merges are deterministic
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".prom") {
			continue
		}
		t, err := m.readFile(filepath.Join(cfg.Directory, e.Name()))
		if err != nil {
			c.Logger().Warn("skipping file", "file", e.Name(), "err", err)
			m.failed = true
			continue
		}
		mtime.Set(float64(t), "file", e.Name())
	}
	for _, name := range slices.Sorted(maps.Keys(m.families)) {
		f := m.families[name]
		if f.mf.GetHelp() == "" {
			// The text format makes HELP optional, but a help text that
			// names the files tells whoever finds the metric where it came from.
			help := "Metric read from " + strings.Join(f.files, ", ")
			f.mf.Help = &help
		}
		if err := c.AddFamilies(f.mf); err != nil {
			c.Logger().Warn("skipping metric", "files", strings.Join(f.files, ","), "err", err)
			m.failed = true
		}
	}
	scrapeErr := 0.0
	if m.failed {
		scrapeErr = 1
	}
	c.Gauge(scrapeErrorName, "1 if there was an error opening or reading a file, 0 otherwise").Set(scrapeErr)
	return nil
}

// merger combines the families of all files. A file contributes a family
// only if it agrees with what earlier files said about it; otherwise that
// family of that file is skipped, so one bad file cannot hide the others.
type merger struct {
	c        *sdk.Collection
	families map[string]*merged
	failed   bool
}

type merged struct {
	mf     *dto.MetricFamily
	files  []string
	series map[string]bool
}

// readFile parses one file and merges it, returning its mtime in whole
// seconds, as node_exporter does.
func (m *merger) readFile(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		return 0, fmt.Errorf("parsing: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	file := filepath.Base(path)
	for _, name := range slices.Sorted(maps.Keys(families)) {
		if err := m.merge(file, families[name]); err != nil {
			m.c.Logger().Warn("skipping metric", "file", file, "metric", name, "err", err)
			m.failed = true
		}
	}
	return st.ModTime().Unix(), nil
}

func (m *merger) merge(file string, mf *dto.MetricFamily) error {
	name := mf.GetName()
	if name == mtimeName || name == scrapeErrorName {
		return errors.New("the name is reserved for the textfile plugin's own metrics")
	}
	if len(mf.Metric) == 0 {
		return nil
	}
	var stamped int
	for _, metric := range mf.Metric {
		if metric.TimestampMs != nil {
			metric.TimestampMs = nil
			stamped++
		}
	}
	if stamped > 0 {
		m.c.Logger().Warn("dropped sample timestamps; the Pushgateway rejects timestamped samples",
			"file", file, "metric", name, "samples", stamped)
	}
	keys := make([]string, len(mf.Metric))
	for i, metric := range mf.Metric {
		keys[i] = seriesKey(metric)
	}
	prev, ok := m.families[name]
	if !ok {
		prev = &merged{mf: mf, series: map[string]bool{}}
		for _, k := range keys {
			if prev.series[k] {
				return fmt.Errorf("series {%s} appears twice", k)
			}
			prev.series[k] = true
		}
		prev.files = []string{file}
		m.families[name] = prev
		return nil
	}
	if prev.mf.GetType() != mf.GetType() {
		return fmt.Errorf("type %s differs from %s in %s", mf.GetType(), prev.mf.GetType(), strings.Join(prev.files, ", "))
	}
	if a, b := prev.mf.GetHelp(), mf.GetHelp(); a != "" && b != "" && a != b {
		return fmt.Errorf("help %q differs from %q in %s", b, a, strings.Join(prev.files, ", "))
	}
	added := map[string]bool{}
	for _, k := range keys {
		if prev.series[k] || added[k] {
			return fmt.Errorf("series {%s} is already present in %s", k, strings.Join(prev.files, ", "))
		}
		added[k] = true
	}
	maps.Copy(prev.series, added)
	if prev.mf.GetHelp() == "" {
		prev.mf.Help = mf.Help
	}
	prev.mf.Metric = append(prev.mf.Metric, mf.Metric...)
	prev.files = append(prev.files, file)
	return nil
}

// seriesKey identifies a series within its family by its sorted labels.
func seriesKey(metric *dto.Metric) string {
	labels := slices.Clone(metric.Label)
	slices.SortFunc(labels, func(a, b *dto.LabelPair) int { return cmp.Compare(a.GetName(), b.GetName()) })
	parts := make([]string, len(labels))
	for i, lp := range labels {
		parts[i] = fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue())
	}
	return strings.Join(parts, ",")
}
