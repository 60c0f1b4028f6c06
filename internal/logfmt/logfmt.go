// Package logfmt writes the daemon's log records in the formats of
// slog's TextHandler and JSONHandler, byte for byte. A record of flat
// attributes (strings, integers, booleans and durations), such as the
// audit record of every request, is written straight from its attributes
// into a pooled buffer: no slog.Record is built, and none of the
// handler's per-attribute machinery for groups, replacements and
// marshalers runs. Every other record goes through slog's own handler.
package logfmt

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Handler is an slog.Handler that also writes flat records directly.
type Handler struct {
	slog.Handler // slog's own, for records that are not flat
	out          *lockedWriter
	json         bool
	level        slog.Leveler
	bufs         *sync.Pool
}

// New returns a handler writing text records, or JSON records if json is
// set, to w, for records at level or above (nil for slog.LevelInfo).
func New(w io.Writer, json bool, level slog.Leveler) *Handler {
	if level == nil {
		level = slog.LevelInfo
	}
	out := &lockedWriter{w: w}
	opts := &slog.HandlerOptions{Level: level}
	h := &Handler{out: out, json: json, level: level, bufs: &sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}}
	if json {
		h.Handler = slog.NewJSONHandler(out, opts)
	} else {
		h.Handler = slog.NewTextHandler(out, opts)
	}
	return h
}

// maxPooled bounds the buffers kept for the next record: a rare long
// record does not hold its memory afterwards.
const maxPooled = 16 << 10

// WriteFlat writes one record as the handler's Handle would write a
// record of the same time, level, message and attributes. Attributes of
// other kinds than string, int64, uint64, bool and duration send the
// record through slog's handler. It does not check the level.
func (h *Handler) WriteFlat(t time.Time, level slog.Level, msg string, attrs []slog.Attr) error {
	if !flat(attrs) || !formattable(t) {
		r := slog.NewRecord(t, level, msg, 0)
		r.AddAttrs(attrs...)
		return h.Handler.Handle(context.Background(), r)
	}
	bp := h.bufs.Get().(*[]byte)
	var b []byte
	if h.json {
		b = appendJSON((*bp)[:0], t, level, msg, attrs)
	} else {
		b = appendText((*bp)[:0], t, level, msg, attrs)
	}
	_, err := h.out.Write(b)
	if cap(b) <= maxPooled {
		*bp = b
		h.bufs.Put(bp)
	}
	return err
}

// Handle writes r, directly if its attributes are flat.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	var room [16]slog.Attr
	attrs := room[:0]
	if r.NumAttrs() <= len(room) {
		r.Attrs(func(a slog.Attr) bool {
			attrs = append(attrs, a)
			return true
		})
		if flat(attrs) && formattable(r.Time) {
			return h.WriteFlat(r.Time, r.Level, r.Message, attrs)
		}
	}
	return h.Handler.Handle(ctx, r)
}

// Enabled reports whether records at level are written.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

func flat(attrs []slog.Attr) bool {
	for _, a := range attrs {
		switch a.Value.Kind() {
		case slog.KindString, slog.KindInt64, slog.KindUint64, slog.KindBool, slog.KindDuration:
		default:
			return false
		}
	}
	return true
}

// formattable reports whether t is written here: slog writes a zero time
// as no time, and a year outside RFC 3339's four digits with an error.
func formattable(t time.Time) bool {
	y := t.Year()
	return !t.IsZero() && y >= 0 && y < 10000
}

func appendText(b []byte, t time.Time, level slog.Level, msg string, attrs []slog.Attr) []byte {
	b = append(b, "time="...)
	// Milliseconds, always three digits: the layout truncates as slog does.
	b = t.Round(0).AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, " level="...)
	b = appendTextString(b, level.String())
	b = append(b, " msg="...)
	b = appendTextString(b, msg)
	for _, a := range attrs {
		b = append(b, ' ')
		b = appendTextString(b, a.Key)
		b = append(b, '=')
		b = appendValue(b, a.Value, false)
	}
	return append(b, '\n')
}

func appendJSON(b []byte, t time.Time, level slog.Level, msg string, attrs []slog.Attr) []byte {
	b = append(b, `{"time":"`...)
	b = t.Round(0).AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":`...)
	b = appendJSONString(b, level.String())
	b = append(b, `,"msg":`...)
	b = appendJSONString(b, msg)
	for _, a := range attrs {
		b = append(b, ',')
		b = appendJSONString(b, a.Key)
		b = append(b, ':')
		b = appendValue(b, a.Value, true)
	}
	return append(b, "}\n"...)
}

// appendValue writes a flat value as the text or the JSON handler does.
func appendValue(b []byte, v slog.Value, json bool) []byte {
	switch v.Kind() {
	case slog.KindString:
		if json {
			return appendJSONString(b, v.String())
		}
		return appendTextString(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		if json {
			// As encoding/json writes a time.Duration: its nanoseconds.
			return strconv.AppendInt(b, int64(v.Duration()), 10)
		}
		return append(b, v.Duration().String()...)
	}
	return b
}

// appendTextString writes s bare when a reader can take it back from
// between spaces, and quoted otherwise, as slog's TextHandler does.
func appendTextString(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			// A backslash is kept bare; what JSON would escape, a space
			// and '=' are not.
			if c != '\\' && (c == ' ' || c == '=' || !jsonSafe(c)) {
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

// jsonSafe reports whether an ASCII byte goes into a JSON string as it is.
func jsonSafe(c byte) bool {
	return c >= ' ' && c != '"' && c != '\\'
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string the way slog's JSONHandler
// does: no HTML escaping; invalid UTF-8 as U+FFFD; U+2028 and U+2029
// escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe(c) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// lockedWriter makes each record one Write, never interleaved with
// another: slog's handler and WriteFlat share it.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
