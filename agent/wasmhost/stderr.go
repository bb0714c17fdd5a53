package wasmhost

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxReason bounds the plugin's own reason carried by a failed run's
// error, which the status page and every failure log line repeat.
const maxReason = 512

// lineLogger turns stderr into one log record per line, up to max bytes a
// run; the rest is counted and reported once.
//
// A line in the logfmt form the Go SDK writes (level=ERROR msg="…" k=v…)
// is logged at its own level with its own message and attributes, so a
// plugin's ERROR stays an error and its text is not quoted a second time.
// Any other line is logged as it is, at INFO.
//
// It also keeps what a failed run's error needs: the plugin's last error
// line (its reason) and whether a line said a path lay outside the
// sandbox's mounts.
type lineLogger struct {
	logger  *slog.Logger
	sawOOM  bool // a line said the plugin ran out of memory
	noMount bool // a line said a path was outside every mount
	max     int
	seen    int
	lines   int
	dropped int
	partial []byte
	// lastError is the last ERROR record's message and error; lastPlain
	// the last line that was not a leveled record, for plugins that do
	// not log levels (C's fprintf(stderr), Rust's panic message).
	lastError, lastPlain string
	crashed              bool // a Go crash began: keep its first line
	// held is the record of the line that is the reason so far, not yet
	// logged: a failed run's error carries the reason, and the agent logs
	// that error, so the line is logged only if the error does not carry
	// it (see release).
	held *heldRecord
}

// heldRecord is a log record whose logging waits for the run's end.
type heldRecord struct {
	level slog.Level
	msg   string
	args  []any
	// partial is set when the reason taken from the record is less than
	// the record: the first line of a multi-line error (a script's
	// traceback), a cut reason, other attributes. Such a record is logged
	// even when the run's error carries its reason, so nothing is lost.
	partial bool
}

func (l *lineLogger) Write(b []byte) (int, error) {
	n := len(b)
	if l.seen >= l.max {
		l.dropped += n
		return n, nil
	}
	if room := l.max - l.seen; len(b) > room {
		l.dropped += len(b) - room
		b = b[:room]
	}
	l.seen += len(b)
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.emit(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return n, nil
}

func (l *lineLogger) emit(line string) {
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return
	}
	if strings.Contains(line, "out of memory") || strings.Contains(line, "memory allocation of") {
		l.sawOOM = true
	}
	if outsideMounts(line) {
		l.noMount = true
	}
	rec, leveled := parseLogfmt(line)
	isReason := false // the line is the reason so far
	switch {
	case leveled && rec.level == slog.LevelError:
		l.lastError, isReason = rec.reason(), true
	case leveled || l.crashed:
	case strings.HasPrefix(line, "fatal error: ") || strings.HasPrefix(line, "panic: "):
		// A Go crash: its first line says why, the stack after it does not.
		l.lastPlain, l.crashed = line, true
		isReason = l.lastError == ""
	case !strings.HasPrefix(line, "note: run with `RUST_BACKTRACE"):
		// Rust's panic handler ends with that hint, after the message.
		l.lastPlain = line
		isReason = l.lastError == ""
	}
	if l.lines >= maxStderrLines {
		l.dropped += len(line) + 1
		return
	}
	l.lines++
	r := &heldRecord{level: slog.LevelInfo, msg: "plugin stderr", args: []any{"line", line}, partial: len(line) > maxReason}
	if leveled {
		r = &heldRecord{level: rec.level, msg: "plugin log", args: make([]any, 0, 2+2*len(rec.attrs)), partial: !rec.wholeReason()}
		r.args = append(r.args, "message", rec.msg)
		for _, kv := range rec.attrs {
			r.args = append(r.args, kv[0], kv[1])
		}
	}
	if !isReason {
		l.log(r)
		return
	}
	l.hold(r)
}

// hold keeps r, the record of the reason so far, until the run ends. The
// record it replaces is no longer the reason, and is logged.
func (l *lineLogger) hold(r *heldRecord) {
	l.log(l.held)
	l.held = r
}

// logCallError takes an ERROR record of the log host call: like a
// level=ERROR line on stderr, it is the reason so far.
func (l *lineLogger) logCallError(r *heldRecord, reason string) {
	l.lastError = truncate(reason, maxReason)
	l.hold(r)
}

func (l *lineLogger) log(r *heldRecord) {
	if r != nil {
		l.logger.Log(context.Background(), r.level, r.msg, r.args...)
	}
}

// release ends the run's logging: it logs the held reason line unless
// carried, when the run's error carries it (the agent logs that error,
// once, with the reason inside). A run that succeeded, or failed for
// another reason (a timeout), logs it as it was written.
func (l *lineLogger) release(carried bool) {
	if !carried || (l.held != nil && l.held.partial) {
		l.log(l.held)
	}
	l.held = nil
}

func (l *lineLogger) flush() {
	if len(l.partial) > 0 {
		l.emit(string(l.partial))
		l.partial = nil
	}
	if l.dropped > 0 {
		l.logger.Warn("plugin stderr truncated", "dropped_bytes", l.dropped, "limit_bytes", l.max, "limit_lines", maxStderrLines)
	}
}

// reason is the plugin's own account of a failure: its last ERROR record,
// or else its last plain stderr line; "" if it wrote neither.
func (l *lineLogger) reason() string {
	r := l.lastError
	if r == "" {
		r = l.lastPlain
	}
	return truncate(r, maxReason)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// outsideMounts reports whether a line is how a runtime says that a path
// lies outside every preopened directory: Go's EBADF, wasi-libc's
// ENOTCAPABLE, Rust's std.
func outsideMounts(s string) bool {
	return strings.Contains(s, "Bad file number") ||
		strings.Contains(s, "Capabilities insufficient") ||
		strings.Contains(s, "failed to find a pre-opened file descriptor")
}

// logRecord is one parsed logfmt line.
type logRecord struct {
	level slog.Level
	msg   string
	attrs [][2]string
}

// reason is the record as a failure reason: "msg: err" when it carries
// an err attribute, as the SDK's "collect failed" record does.
// wholeReason reports whether reason says all the record does: its
// message and at most one err attribute of one line, short enough not to
// be cut.
func (r logRecord) wholeReason() bool {
	switch {
	case len(r.attrs) > 1:
		return false
	case len(r.attrs) == 1 && (r.attrs[0][0] != "err" && r.attrs[0][0] != "error" || strings.Contains(r.attrs[0][1], "\n")):
		return false
	}
	return len(r.reason()) <= maxReason
}

func (r logRecord) reason() string {
	for _, kv := range r.attrs {
		if kv[0] == "err" || kv[0] == "error" {
			// The first line: a recovered panic's error goes on with
			// its stack.
			first, _, _ := strings.Cut(kv[1], "\n")
			return r.msg + ": " + first
		}
	}
	return r.msg
}

// parseLogfmt reads a line of the form the Go SDK and log/slog's text
// handler write: level=LEVEL first, then msg and key=value pairs, a value
// bare or Go-quoted. ok is false for anything else, which is then logged
// as a plain line.
func parseLogfmt(line string) (rec logRecord, ok bool) {
	if !strings.HasPrefix(line, "level=") && !strings.HasPrefix(line, "time=") {
		return rec, false
	}
	sawLevel := false
	for s := line; s != ""; {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		var key, value string
		var good bool
		if key, s, good = logfmtToken(s); !good || !strings.HasPrefix(s, "=") {
			return rec, false
		}
		if value, s, good = logfmtToken(s[1:]); !good {
			return rec, false
		}
		if s != "" && s[0] != ' ' {
			return rec, false
		}
		switch key {
		case "level":
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(value)); err != nil {
				return rec, false
			}
			rec.level, sawLevel = lvl, true
		case "msg":
			rec.msg = value
		case "time":
			// The agent stamps its own records.
		default:
			rec.attrs = append(rec.attrs, [2]string{key, value})
		}
	}
	return rec, sawLevel
}

// logfmtToken reads a bare or Go-quoted token from the start of s and
// returns it and the rest of s.
func logfmtToken(s string) (tok, rest string, ok bool) {
	if strings.HasPrefix(s, `"`) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", s, false
		}
		tok, err := strconv.Unquote(q)
		return tok, s[len(q):], err == nil
	}
	end := strings.IndexAny(s, " =")
	if end < 0 {
		end = len(s)
	}
	if strings.HasPrefix(s[end:], "=") && end == 0 {
		return "", s, false
	}
	return s[:end], s[end:], true
}
