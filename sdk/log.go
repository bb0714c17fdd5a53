package sdk

import (
	"encoding"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Logger writes logfmt lines to the plugin's stderr, which the host
// forwards to the agent's log tagged with the job and collector:
//
//	level=WARN msg="skipping file" file=a.prom err="parsing: line 3: …"
//
// The lines are those log/slog's TextHandler writes, without the time: the
// host stamps every line it forwards, and a guest clock adds nothing. The
// SDK does not use log/slog itself because linking it makes every plugin
// about 0.4 MB larger.
//
// Its methods take a message and key, value pairs, as slog's do. A value is
// written as fmt's %+v writes it (an error as its Error text, a
// time.Duration as its String), quoted when it holds a space, '=', '"' or
// anything unprintable; a key without a value is written as !BADKEY=key.
// Debug lines are kept, since the host decides what to show.
//
// A Logger is safe for concurrent use; each call writes one whole line.
type Logger struct {
	w  io.Writer
	mu *sync.Mutex // shared with the loggers made by With
	// attrs are the pairs given to With, already formatted.
	attrs string
}

// Debug logs at debug level.
func (l *Logger) Debug(msg string, keyvals ...any) { l.log("DEBUG", msg, keyvals) }

// Info logs at info level.
func (l *Logger) Info(msg string, keyvals ...any) { l.log("INFO", msg, keyvals) }

// Warn logs at warning level: something the operator should fix even
// though the run goes on.
func (l *Logger) Warn(msg string, keyvals ...any) { l.log("WARN", msg, keyvals) }

// Error logs at error level.
func (l *Logger) Error(msg string, keyvals ...any) { l.log("ERROR", msg, keyvals) }

// With returns a logger that adds keyvals to every line, for context shared
// by many lines such as the file being read.
func (l *Logger) With(keyvals ...any) *Logger {
	if l == nil {
		return nil
	}
	return &Logger{w: l.w, mu: l.mu, attrs: string(appendKeyvals([]byte(l.attrs), keyvals))}
}

func (l *Logger) log(level, msg string, keyvals []any) {
	if l == nil {
		return
	}
	b := make([]byte, 0, 64+len(msg)+len(l.attrs))
	b = append(b, "level="...)
	b = append(b, level...)
	b = append(b, " msg="...)
	b = appendLogString(b, msg)
	b = append(b, l.attrs...)
	b = appendKeyvals(b, keyvals)
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(b) // a log line that cannot be written has nowhere else to go
}

func appendKeyvals(b []byte, keyvals []any) []byte {
	for len(keyvals) > 0 {
		key, ok := keyvals[0].(string)
		var value any
		switch {
		case !ok:
			key, value, keyvals = "!BADKEY", keyvals[0], keyvals[1:]
		case len(keyvals) == 1:
			key, value, keyvals = "!BADKEY", key, nil
		default:
			value, keyvals = keyvals[1], keyvals[2:]
		}
		b = append(b, ' ')
		b = appendLogString(b, key)
		b = append(b, '=')
		b = appendLogValue(b, value)
	}
	return b
}

func appendLogValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return appendLogString(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int8:
		return strconv.AppendInt(b, int64(v), 10)
	case int16:
		return strconv.AppendInt(b, int64(v), 10)
	case int32:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case uint:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint8:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint16:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case uintptr:
		return strconv.AppendUint(b, uint64(v), 10)
	case float32:
		return strconv.AppendFloat(b, float64(v), 'g', -1, 64)
	case float64:
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	case bool:
		return strconv.AppendBool(b, v)
	case time.Duration:
		return append(b, v.String()...)
	case error:
		return appendLogString(b, v.Error())
	case encoding.TextMarshaler:
		t, err := v.MarshalText()
		if err != nil {
			return appendLogString(b, "!ERROR:"+err.Error())
		}
		return appendLogString(b, string(t))
	case []byte:
		return appendLogString(b, string(v))
	}
	return appendLogString(b, fmt.Sprintf("%+v", v))
}

// appendLogString writes s, quoted as a Go string if logfmt needs it.
func appendLogString(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// needsQuoting follows slog's TextHandler: quote the empty string, spaces,
// '=', '"', control characters, invalid UTF-8 and anything unprintable, so
// that one call is always one line and every pair splits back apart.
func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '=' || c == '"' {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
