package logfmt

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// written returns what the handler for json writes for the record, and
// what slog's own handler writes for it.
func written(t *testing.T, json bool, when time.Time, level slog.Level, msg string, attrs []slog.Attr) (flat, handled, want string) {
	t.Helper()
	var got, via, ref bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug - 8}
	if err := New(&got, json, opts.Level).WriteFlat(when, level, msg, attrs); err != nil {
		t.Fatal(err)
	}
	r := slog.NewRecord(when, level, msg, 0)
	r.AddAttrs(attrs...)
	if err := New(&via, json, opts.Level).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	var std slog.Handler = slog.NewTextHandler(&ref, opts)
	if json {
		std = slog.NewJSONHandler(&ref, opts)
	}
	if err := std.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return got.String(), via.String(), ref.String()
}

func TestWritesAsSlog(t *testing.T) {
	when := time.Date(2026, 12, 2, 1, 2, 3, 999_999_999, time.FixedZone("", -(3*3600+30*60)))
	cases := []struct {
		name  string
		msg   string
		attrs []slog.Attr
	}{
		{"audit record", "request", []slog.Attr{
			slog.Uint64("uid", 1000), slog.Uint64("gid", 1000), slog.Int64("pid", 4242),
			slog.String("method", "GET"), slog.String("path", "/v1.47/containers/json"),
			slog.String("operation", "ContainerList"), slog.String("profile", "traefik"),
			slog.String("decision", "allow"), slog.String("step", "operation"),
			slog.String("reason", "allowed by profile traefik"), slog.String("container", "/web"),
			slog.Bool("contained", true), slog.Int("status", 200), slog.Duration("duration", 1234567*time.Nanosecond),
		}},
		{"no attributes", "listening", nil},
		{"empty strings", "", []slog.Attr{slog.String("", ""), slog.String("k", "")}},
		{"quotes and equals", `say "hi"`, []slog.Attr{slog.String("a=b", `x"y`), slog.String("back", `C:\dir`)}},
		{"control bytes", "line\nbreak", []slog.Attr{slog.String("tab", "a\tb\r\x00\x1f\x7f")}},
		{"unicode", "héllo wörld", []slog.Attr{slog.String("space", "a\u00a0b"), slog.String("sep", "a\u2028b\u2029"), slog.String("emoji", "🐳")}},
		{"invalid utf-8", "bad\xff", []slog.Attr{slog.String("half", "\xe2\x82"), slog.String("replacement", "\ufffd")}},
		{"numbers", "n", []slog.Attr{slog.Int64("min", -1<<63), slog.Uint64("max", 1<<64-1), slog.Bool("no", false), slog.Duration("neg", -time.Minute)}},
	}
	for _, c := range cases {
		for _, json := range []bool{false, true} {
			for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn, slog.LevelDebug, slog.LevelError + 2} {
				flat, handled, want := written(t, json, when, level, c.msg, c.attrs)
				if flat != want || handled != want {
					t.Errorf("%s (json %v, %v):\nWriteFlat %q\nHandle    %q\nslog      %q", c.name, json, level, flat, handled, want)
				}
			}
		}
	}
}

// Records the direct path does not write are slog's to write, the same.
func TestOtherRecordsGoThroughSlog(t *testing.T) {
	cases := []struct {
		name  string
		when  time.Time
		attrs []slog.Attr
	}{
		{"an error", time.Unix(1, 0), []slog.Attr{slog.Any("err", errors.New("engine gone"))}},
		{"a group", time.Unix(1, 0), []slog.Attr{slog.Group("g", slog.Int("a", 1))}},
		{"a float", time.Unix(1, 0), []slog.Attr{slog.Float64("f", 0.5)}},
		{"no time", time.Time{}, []slog.Attr{slog.Int("a", 1)}},
		{"a year past 9999", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), nil},
	}
	for _, c := range cases {
		for _, json := range []bool{false, true} {
			flat, handled, want := written(t, json, c.when, slog.LevelInfo, "m", c.attrs)
			if flat != want || handled != want {
				t.Errorf("%s (json %v):\nWriteFlat %q\nHandle    %q\nslog      %q", c.name, json, flat, handled, want)
			}
		}
	}
}

func TestLevelAndSharedWriter(t *testing.T) {
	var out bytes.Buffer
	h := New(&out, false, slog.LevelWarn)
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelWarn) {
		t.Fatal("Enabled does not follow the level")
	}
	log := slog.New(h)
	log.Info("dropped")
	log.With("k", "v").Warn("kept")
	if got := out.String(); strings.Contains(got, "dropped") || !strings.Contains(got, "msg=kept k=v") {
		t.Fatalf("got %q", got)
	}
}

func FuzzWritesAsSlog(f *testing.F) {
	f.Add(int64(1764637323123456789), 3600, 0, "request", "path", "/v1.47/containers/json", int64(-5), uint64(7), true, int64(1500))
	f.Add(int64(-62135596800000000), -1800, 4, "a b", "", "\xff\u2028\"=\\", int64(0), uint64(0), false, int64(-1))
	f.Fuzz(func(t *testing.T, nanos int64, offset, level int, msg, key, value string, i int64, u uint64, b bool, d int64) {
		when := time.Unix(0, nanos).In(time.FixedZone("", offset%(18*3600)))
		attrs := []slog.Attr{
			slog.String(key, value), slog.Int64(value, i), slog.Uint64(key+"u", u),
			slog.Bool(msg, b), slog.Duration(key+value, time.Duration(d)),
		}
		for _, json := range []bool{false, true} {
			flat, handled, want := written(t, json, when, slog.Level(level), msg, attrs)
			if flat != want || handled != want {
				t.Fatalf("json %v:\nWriteFlat %q\nHandle    %q\nslog      %q", json, flat, handled, want)
			}
		}
	})
}

func BenchmarkAuditRecord(b *testing.B) {
	attrs := []slog.Attr{
		slog.Uint64("uid", 1000), slog.Uint64("gid", 1000), slog.Int64("pid", 4242),
		slog.String("method", "GET"), slog.String("path", "/_ping"),
		slog.String("operation", "SystemPing"), slog.String("profile", "default"),
		slog.String("decision", "allow"), slog.String("step", "operation"),
		slog.String("reason", "allowed by the profile"), slog.Int("status", 200), slog.Duration("duration", 123456),
	}
	for _, bc := range []struct {
		name string
		h    slog.Handler
		flat bool
	}{
		{"slog", slog.NewTextHandler(discard{}, nil), false},
		{"WriteFlat", New(discard{}, false, nil), true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				now := time.Now()
				if bc.flat {
					bc.h.(*Handler).WriteFlat(now, slog.LevelInfo, "request", attrs)
					continue
				}
				r := slog.NewRecord(now, slog.LevelInfo, "request", 0)
				r.AddAttrs(attrs...)
				bc.h.Handle(context.Background(), r)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
