package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	dto "github.com/prometheus/client_model/go"
)

// Collection is one run of a plugin: its config, the metrics gathered so far
// and its logger. The SDK creates one per run and passes it to the
// CollectFunc; it must not be kept after the function returns, because a
// reactor instance reuses nothing but the plugin's own globals between runs.
//
// Its methods are safe to call from several goroutines.
type Collection struct {
	config []byte
	logger *slog.Logger

	mu       sync.Mutex
	families map[string]*family
	// errs collects builder mistakes (bad names, odd label pairs, ...) instead
	// of returning them from every Set call; any of them fails the run.
	errs []error
}

func newCollection(config []byte, logs io.Writer) *Collection {
	return &Collection{
		config:   config,
		logger:   newLogger(logs),
		families: make(map[string]*family),
	}
}

// newLogger writes logfmt lines to the plugin's stderr. The time is left out
// because the host stamps every line it forwards, and a guest clock adds
// nothing; debug lines are kept since the host decides what to show.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// Config returns the collector's config exactly as the host sent it: the
// JSON form of the collector's config block, or empty if it has none.
func (c *Collection) Config() []byte { return c.config }

// DecodeConfig decodes the collector's JSON config into v, which should point
// at a struct holding the defaults. An empty config or JSON null leaves v
// unchanged. Unknown fields are an error rather than ignored, so that a typo
// in schedules.yaml fails loudly instead of silently using a default.
func (c *Collection) DecodeConfig(v any) error {
	if len(bytes.TrimSpace(c.config)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(c.config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decoding config: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("decoding config: unexpected data after the JSON value")
	}
	return nil
}

// Logger returns the run's logger. Its lines go to the plugin's stderr in
// logfmt, which the host forwards to the agent's log tagged with the job and
// collector.
func (c *Collection) Logger() *slog.Logger { return c.logger }

// Logf logs an informational message formatted like fmt.Sprintf.
func (c *Collection) Logf(format string, args ...any) {
	c.logger.Info(fmt.Sprintf(format, args...))
}

// Warnf logs a warning formatted like fmt.Sprintf: something the operator
// should fix even though the run goes on, such as a skipped input file.
func (c *Collection) Warnf(format string, args ...any) {
	c.logger.Warn(fmt.Sprintf(format, args...))
}

// AddFamilies adds already-built metric families, for example ones parsed
// from exposition text with expfmt. A family whose name is already present
// must have the same type, and the same help text unless one of them has
// none; its metrics are then combined.
//
// Each family is checked whole before anything of it is added: an invalid
// family (bad metric or label name, a sample that does not match the type, a
// timestamp, which the Pushgateway rejects) is left out and named in the
// returned error, and the other families are still added. Unlike the builder
// methods, such an error does not fail the run by itself; return it from the
// CollectFunc to fail it, or log it to skip the family.
//
// AddFamilies takes ownership of the families; do not change them afterwards.
func (c *Collection) AddFamilies(families ...*dto.MetricFamily) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, mf := range families {
		if err := c.addFamily(mf); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Collection) addFamily(mf *dto.MetricFamily) error {
	if mf == nil {
		return errors.New("nil metric family")
	}
	name := mf.GetName()
	if err := checkName(name); err != nil {
		return err
	}
	if err := checkFamily(mf); err != nil {
		return fmt.Errorf("metric %q: %w", name, err)
	}
	f, err := c.familyLocked(name, mf.GetHelp(), mf.GetType())
	if err != nil {
		return err
	}
	f.mf.Metric = append(f.mf.Metric, mf.Metric...)
	return nil
}

// family returns the family called name, creating it if needed. On a conflict
// or a bad name the error is recorded and a detached family is returned, so
// that builder calls can go on without nil checks while the run still fails.
func (c *Collection) family(name, help string, typ dto.MetricType) *family {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := c.familyLocked(name, help, typ)
	if err != nil {
		c.errs = append(c.errs, err)
		return &family{c: c, mf: &dto.MetricFamily{Name: &name, Type: &typ}, broken: true}
	}
	return f
}

func (c *Collection) familyLocked(name, help string, typ dto.MetricType) (*family, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if f, ok := c.families[name]; ok {
		if got := f.mf.GetType(); got != typ {
			return nil, fmt.Errorf("metric %q: added as %s, but already present as %s", name, typ, got)
		}
		switch old := f.mf.GetHelp(); {
		case help == "" || help == old:
		case old == "":
			f.mf.Help = &help
		default:
			return nil, fmt.Errorf("metric %q: help %q differs from the earlier %q", name, help, old)
		}
		return f, nil
	}
	mf := &dto.MetricFamily{Name: &name, Type: &typ}
	if help != "" {
		mf.Help = &help
	}
	f := &family{c: c, mf: mf}
	c.families[name] = f
	return f, nil
}

func (c *Collection) recordErr(err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}
