package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Collection is one run of a plugin: its config, the metrics gathered so far
// and its logger. The SDK creates one per run and passes it to the
// CollectFunc; it must not be kept after the function returns, because a
// reactor instance reuses nothing but the plugin's own globals between runs.
//
// Its methods are safe to call from several goroutines.
type Collection struct {
	config []byte
	logger Logger
	logMu  sync.Mutex

	mu mutex
	// families are the collection's families in the order they were
	// added (until encode sorts them by name); byName indexes them once
	// there are too many to search, since hashing a name costs more in
	// wasm than comparing a few.
	families []*family
	byName   map[string]*family
	few      [4]*family // the first families' room, saving an allocation
	// errs collects builder mistakes (bad names, odd label pairs, ...) instead
	// of returning them from every Set call; any of them fails the run.
	errs []error
}

// family is one metric family of a collection, in the form the writer
// needs. A broken family had a bad name or a conflict: its error is
// already recorded and builders drop its samples.
//
// The series keep their labels and points in two arenas of the family, so
// that a series is a small value without pointers: adding one allocates
// nothing in the common case, and sorting moves 32 bytes that the garbage
// collector need not scan.
type family struct {
	c      *Collection
	order  int // index among the collection's families in the order they were added
	name   string
	help   string
	typ    Type
	series []series
	labels []string // name, value pairs of all series
	points []point  // buckets or quantiles of all series
	tmp    []series // scratch space for sorting the series
	names  []string // the label names of the last series a builder added
	broken bool
	// escape says that a label value of some series holds a byte the
	// text format escapes; without one, the writer copies values as
	// they are.
	escape bool
}

// series is one labelled series. labels[lo:hi] of its family are its name,
// value pairs sorted by name, without "le" or "quantile". For counters,
// gauges and untyped families value is the value; for histograms and
// summaries it is the sum, count is the count, and points[plo:phi] are the
// buckets (upper bound, cumulative count) or quantiles (quantile, value),
// sorted.
type series struct {
	lo, hi, plo, phi int32
	value, count     float64
}

type point struct{ key, value float64 }

func (f *family) seriesLabels(s *series) []string { return f.labels[s.lo:s.hi] }

func (f *family) seriesPoints(s *series) []point { return f.points[s.plo:s.phi] }

func newCollection(config []byte, logs io.Writer) *Collection {
	c := &Collection{config: config}
	c.families = c.few[:0]
	if logs == nil {
		logs = io.Discard
	}
	c.logger = Logger{w: logs, mu: &c.logMu}
	return c
}

// Config returns the collector's config exactly as the host sent it: the
// JSON form of the collector's config block, or empty if it has none.
func (c *Collection) Config() []byte { return c.config }

// DecodeConfig decodes the collector's JSON config into v, which should point
// at a struct holding the defaults. An empty config or JSON null leaves v
// unchanged. Unknown fields are an error rather than ignored, so that a typo
// in schedules.yaml fails loudly instead of silently using a default.
func (c *Collection) DecodeConfig(v any) error {
	if len(bytes.TrimSpace(c.config)) == 0 || decodeFlat(c.config, v) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(c.config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("sdk: decoding config: %w", err)
	}
	if len(bytes.TrimSpace(c.config[dec.InputOffset():])) > 0 {
		return errors.New("sdk: decoding config: unexpected data after the JSON value")
	}
	return nil
}

// Logger returns the run's logger. Its lines go to the plugin's stderr in
// logfmt, which the host forwards to the agent's log tagged with the job and
// collector.
func (c *Collection) Logger() *Logger { return &c.logger }

// Logf logs an informational message formatted like fmt.Sprintf.
func (c *Collection) Logf(format string, args ...any) {
	c.logger.Info(fmt.Sprintf(format, args...))
}

// Warnf logs a warning formatted like fmt.Sprintf: something the operator
// should fix even though the run goes on, such as a skipped input file.
func (c *Collection) Warnf(format string, args ...any) {
	c.logger.Warn(fmt.Sprintf(format, args...))
}

// family returns the family called name, creating it if needed. On a conflict
// or a bad name the error is recorded and a detached family is returned, so
// that builder calls can go on without nil checks while the run still fails.
func (c *Collection) family(name, help string, typ Type) *family {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := c.familyLocked(name, help, typ)
	if err != nil {
		c.errs = append(c.errs, err)
		return &family{c: c, name: name, typ: typ, broken: true}
	}
	return f
}

// familyLocked finds or creates a family. A family that is already present
// must have the same type, and the same help text unless one of them has
// none; a help text fills in a missing one.
func (c *Collection) familyLocked(name, help string, typ Type) (*family, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if !typ.valid() {
		return nil, metricError(name, fmt.Errorf("unsupported type %s", typ))
	}
	help = normalizeHelp(help)
	if f := c.lookup(name); f != nil {
		if err := f.conflict(help, typ); err != nil {
			return nil, err
		}
		if f.help == "" {
			f.help = help
		}
		return f, nil
	}
	f := &family{c: c, order: len(c.families), name: name, help: help, typ: typ}
	f.reuseArena()
	c.families = append(c.families, f)
	if c.byName != nil {
		c.byName[name] = f
	} else if len(c.families) > maxScannedFamilies {
		c.byName = make(map[string]*family, 2*len(c.families))
		for _, f := range c.families {
			c.byName[f.name] = f
		}
	}
	return f, nil
}

// maxScannedFamilies is how many families lookup compares one by one
// before it indexes them by name.
const maxScannedFamilies = 8

// lookup returns the family called name, or nil.
func (c *Collection) lookup(name string) *family {
	if c.byName != nil {
		return c.byName[name]
	}
	for _, f := range c.families {
		if f.name == name {
			return f
		}
	}
	return nil
}

// normalizeHelp drops leading blanks and tabs: a HELP line cannot carry
// them (a parser takes them for the separator after the name), so keeping
// them would make the text say something other than the plugin meant.
func normalizeHelp(help string) string {
	for len(help) > 0 && (help[0] == ' ' || help[0] == '\t') {
		help = help[1:]
	}
	return help
}

func (c *Collection) recordErr(err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}
