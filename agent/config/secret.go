package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

const redacted = "<secret>"

// Secret is a string that must not be printed: a password, a token, or the
// content of a secret file. Every fmt verb, String, GoString, JSON and text
// marshalling give "<secret>"; only [Secret.Reveal] returns the value, so a
// leak needs an explicit call that stands out in review.
type Secret string

// Reveal returns the secret value. Call it only where the value is used
// (for example when setting an HTTP header), never to log or print it.
func (s Secret) Reveal() string { return string(s) }

// String returns "<secret>".
func (s Secret) String() string { return redacted }

// GoString returns "<secret>", so %#v does not print the value either.
func (s Secret) GoString() string { return redacted }

// Format writes "<secret>" for every verb, including %x and %q, which would
// otherwise print the underlying string.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON returns the JSON string "<secret>".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "<secret>", so encoders that use text marshalling
// (YAML, TOML, map keys in JSON, slog text handlers) do not print the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// basicAuthView is how BasicAuth is printed.
type basicAuthView struct {
	Username string
	Password Secret
}

// Format prints the credentials with the password redacted. BasicAuth needs
// its own Format although Password is a Secret: fmt prints a *BasicAuth inside
// a struct with a verb it does not support for pointers (%s, %q, %x) through
// its error path, which ignores the Secret's Format method.
func (a BasicAuth) Format(f fmt.State, verb rune) {
	s := fmt.Sprintf(fmt.FormatString(f, verb), basicAuthView(a))
	if verb == 'v' && f.Flag('#') {
		s = strings.Replace(s, "config.basicAuthView", "config.BasicAuth", 1)
	}
	_, _ = f.Write([]byte(s))
}

// collectorView is how a Collector is printed: its plugin config and the values
// of granted environment variables can carry secrets (an API token expanded
// from ${TOKEN}, a password in the plugin's config), so they are redacted.
type collectorView struct {
	Name        string
	Plugin      string
	HTTP        string // the HTTP plugin's URL; its headers and credentials are secrets
	Config      Secret
	Timeout     time.Duration
	MemoryLimit uint64
	MaxOutput   int64
	SeriesLimit int
	Labels      map[string]string
	Mounts      map[string]string
	Env         map[string]Secret
}

func (c Collector) view() collectorView {
	v := collectorView{
		Name:        c.Name,
		Plugin:      c.Plugin,
		Config:      Secret(c.Config),
		Timeout:     c.Timeout,
		MemoryLimit: c.MemoryLimit,
		MaxOutput:   c.MaxOutput,
		SeriesLimit: c.SeriesLimit,
		Labels:      c.Labels,
		Mounts:      c.Mounts,
	}
	if c.HTTP != nil {
		v.HTTP = c.HTTP.URL
	}
	if c.Env != nil {
		v.Env = make(map[string]Secret, len(c.Env))
		for k, val := range c.Env {
			v.Env[k] = Secret(val)
		}
	}
	return v
}

// MarshalJSON encodes the collector with Config and the Env values redacted,
// for status pages and debug dumps. The plugin's input is c.Config itself.
func (c Collector) MarshalJSON() ([]byte, error) { return json.Marshal(c.view()) }

// Format prints the collector with Config and the Env values redacted; see
// the package documentation for why.
func (c Collector) Format(f fmt.State, verb rune) {
	s := fmt.Sprintf(fmt.FormatString(f, verb), c.view())
	if verb == 'v' && f.Flag('#') {
		s = strings.Replace(s, "config.collectorView", "config.Collector", 1)
	}
	_, _ = f.Write([]byte(s))
}
