package filter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

// containerList is a ContainerList answer of n entries shaped as the
// engine writes them, every other one carrying the label.
func containerList(n int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		visible := "false"
		if i%2 == 0 {
			visible = "true"
		}
		fmt.Fprintf(&b, `{"Id":"%064d","Names":["/c%d"],"Image":"dsf-test:latest","ImageID":"sha256:45bc9cda273f9391c2a2335321b340fd71e342abeafd44f285613440a908fcf1","Command":"true","Created":1796141240,"Ports":[],"Labels":{"bench.visible":"%s","com.example.x":"y"},"State":"created","Status":"Created","HostConfig":{"NetworkMode":"default"},"NetworkSettings":{"Networks":{"bridge":{"IPAMConfig":null,"Links":null,"Aliases":null,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"MacAddress":"","DriverOpts":null}}},"Mounts":[]}`, i, i, visible)
	}
	b.WriteString("]")
	return b.String()
}

func BenchmarkFilterList(b *testing.B) {
	v, err := ParseLabelRule("bench.visible=true")
	if err != nil {
		b.Fatal(err)
	}
	list := containerList(200)
	b.SetBytes(int64(len(list)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.FilterList(io.Discard, strings.NewReader(list)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFilterListShapes: the list is cut into its elements however the
// engine spaces it and whatever its strings hold, and the Labels key is
// found as encoding/json finds it.
func TestFilterListShapes(t *testing.T) {
	v, err := ParseLabelRule("k=v")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, list, want string
		fails            bool
	}{
		{"spaced", " [ {\"Labels\" : {\"k\":\"v\"}} ,\n{\"Labels\":{}} ] ", `[{"Labels" : {"k":"v"}}]`, false},
		{"empty", `[]`, `[]`, false},
		{"brackets and quotes in strings", `[{"Id":"]},{\"Labels\":{\"k\":\"v\"}}","Labels":{"x":"y"}},{"Id":"\\","Labels":{"k":"v"}}]`, `[{"Id":"\\","Labels":{"k":"v"}}]`, false},
		{"nested Labels is not the entry's", `[{"Config":{"Labels":{"k":"v"}}}]`, `[]`, false},
		{"key case folded", `[{"labels":{"k":"v"}}]`, `[{"labels":{"k":"v"}}]`, false},
		{"escaped key", `[{"L\u0061bels":{"k":"v"}}]`, `[{"L\u0061bels":{"k":"v"}}]`, false},
		{"later key wins", `[{"Labels":{"k":"v"},"Labels":{"k":"w"}}]`, `[]`, false},
		{"value not a string", `[{"Labels":{"k":1}}]`, `[]`, false},
		{"null entry", `[null]`, `[]`, false},
		{"not a list", `{"message":"x"}`, "", true},
		{"cut short", `[{"Labels":{"k":"v"}`, "", true},
		{"broken entry", `[{"Labels":{"k":"v"},}]`, "", true},
		{"number entry", `[1]`, "", true},
		{"missing comma", `[{"Labels":{"k":"v"}} {"Labels":{"k":"v"}}]`, "", true},
		{"Labels given twice merge", `[{"Labels":{"k":"v"},"labels":{"x":"y"}}]`, `[{"Labels":{"k":"v"},"labels":{"x":"y"}}]`, false},
		{"null Labels empties them", `[{"Labels":{"k":"v"},"Labels":null}]`, `[]`, false},
		{"label given twice", `[{"Labels":{"k":"w","k":"v"}}]`, `[{"Labels":{"k":"w","k":"v"}}]`, false},
		{"escaped label", `[{"Labels":{"\u006b":"\u0076"}}]`, `[{"Labels":{"\u006b":"\u0076"}}]`, false},
		{"Labels folded with a long s", `[{"Labelſ":{"k":"v"}}]`, `[{"Labelſ":{"k":"v"}}]`, false},
		{"null label", `[{"Labels":{"k":null}}]`, `[]`, false},
		{"Labels not an object", `[{"Labels":"k=v"}]`, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf strings.Builder
			_, err := v.FilterList(&buf, strings.NewReader(c.list))
			if c.fails {
				if err == nil {
					t.Fatalf("FilterList(%s) passed: %s", c.list, buf.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSuffix(buf.String(), "\n"); got != c.want {
				t.Errorf("FilterList(%s) = %s, want %s", c.list, got, c.want)
			}
		})
	}
}

// FuzzFilterList: what a label view lets through of a container list is
// what encoding/json finds in it: the entries whose Labels, decoded into
// a map, give the label a string value, the one asked for if one is.
// A list encoding/json cannot read fails.
func FuzzFilterList(f *testing.F) {
	f.Add(containerList(3), "bench.visible", "true", true)
	for _, list := range []string{
		`[{"Id":"]},{\"Labels\":{\"k\":\"v\"}}","Labels":{"x":"y"}},{"Id":"\\","Labels":{"k":"v"}}]`,
		`[{"Labels":{"k":"v"},"labels":{"k":"w"}},{"Labels":{"k":"v"},"Labels":null},null,{}]`,
		`[{"Labels":{"\u006b":"v\u00e9","k":"\ud800"}},{"LABELS":{"k":1}}]`,
		" [ {\"Labels\" : {\"k\":\"v\"}} ,\n{\"Labels\":{}} ] ",
	} {
		f.Add(list, "k", "v", true)
		f.Add(list, "k", "", false)
	}
	f.Fuzz(func(t *testing.T, list, key, value string, hasValue bool) {
		if key == "" {
			return // no label: no view
		}
		v := View{LabelKey: key, LabelValue: value, HasValue: hasValue}
		want, wantErr := referenceFilterList(v, list)
		var got strings.Builder
		_, err := v.FilterList(&got, strings.NewReader(list))
		switch {
		case wantErr != nil && err == nil:
			t.Fatalf("FilterList(%q) passed with %s; encoding/json: %v", list, got.String(), wantErr)
		case wantErr == nil && err != nil:
			t.Fatalf("FilterList(%q): %v; encoding/json shows %s", list, err, want)
		case err == nil && got.String() != want:
			t.Fatalf("FilterList(%q) = %s, encoding/json shows %s", list, got.String(), want)
		}
	})
}

// referenceFilterList filters a list with encoding/json: the first JSON
// value of list, as a client reads it, must be a list of objects (or
// nulls) whose Labels are an object (or null).
func referenceFilterList(v View, list string) (string, error) {
	var entries []json.RawMessage
	if err := json.NewDecoder(strings.NewReader(list)).Decode(&entries); err != nil {
		return "", err
	}
	shown := [][]byte{}
	for _, e := range entries {
		var c struct{ Labels map[string]json.RawMessage }
		if err := json.Unmarshal(e, &c); err != nil {
			return "", err
		}
		var s string
		raw, ok := c.Labels[v.LabelKey]
		if ok && len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil && (!v.HasValue || s == v.LabelValue) {
			shown = append(shown, e)
		}
	}
	return "[" + string(bytes.Join(shown, []byte(","))) + "]\n", nil
}

// TestListElementBound: an entry over the bound, whatever it is made of,
// is read to its end without being held, and the list reads on after it:
// one container's label must neither cost the filter its size in memory
// nor fail the list. Runs of backslashes longer than the read buffer
// still escape, or not, the quote after them.
func TestListElementBound(t *testing.T) {
	const limit = 64 << 10
	long := strings.Repeat("a", 4<<20)
	backslashes := strings.Repeat(`\\`, 40000) // 80,000: even, the quote after ends the string
	cases := []struct{ name, entry string }{
		{"one long string", `{"Labels":{"k":"` + long + `"}}`},
		{"one long escaped string", `{"Labels":{"k":"` + strings.Repeat(`\"`, 2<<20) + `"}}`},
		{"one long literal", strings.Repeat("1", 4<<20)},
		{"many short members", `{"Labels":{` + strings.Repeat(`"a":[],`, 1<<20) + `"k":"v"}}`},
	}
	// The run is cut where the read buffer fills: shifted by a byte or
	// two, its pieces are of odd length too.
	for _, shift := range []string{"", "a", "ab"} {
		cases = append(cases,
			struct{ name, entry string }{"a long even run of backslashes after " + strconv.Quote(shift),
				`{"Labels":{"k":"` + shift + backslashes + `"},"Id":"` + long + `"}`},
			struct{ name, entry string }{"a long odd run of backslashes after " + strconv.Quote(shift),
				`{"Labels":{"k":"` + shift + backslashes + `\"],{\"Labels\":{}}` + long + `"}}`})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := listReader{br: bufio.NewReaderSize(strings.NewReader("["+c.entry+`,{"Id":"next"}]`), 32<<10), limit: limit}
			if err := l.open(); err != nil {
				t.Fatal(err)
			}
			if _, err := l.next(true); !errors.Is(err, errOverBound) {
				t.Fatalf("an entry over the bound: %v, want errOverBound", err)
			}
			if cap(l.elem) > 2*limit {
				t.Errorf("held %d bytes for a bound of %d", cap(l.elem), limit)
			}
			if next, err := l.next(false); err != nil || string(next) != `{"Id":"next"}` {
				t.Fatalf("the entry after it: %q, %v", next, err)
			}
			if end, err := l.next(false); err != nil || end != nil {
				t.Fatalf("the list's end: %q, %v", end, err)
			}
		})
	}
}

// TestFilterListLeavesOutOversized: a container whose entry is over 32
// MiB is left out of a view's list, and counted, and the others are shown.
func TestFilterListLeavesOutOversized(t *testing.T) {
	v := View{LabelKey: "k", LabelValue: "v", HasValue: true}
	list := `[{"Id":"a","Labels":{"k":"v"}},{"Id":"big","Labels":{"k":"v","x":"` + strings.Repeat("x", MaxListEntry) + `"}},{"Id":"c","Labels":{"k":"v"}}]`
	var out strings.Builder
	oversized, err := v.FilterList(&out, strings.NewReader(list))
	if err != nil || oversized != 1 {
		t.Fatalf("FilterList: %d left out, %v; want 1 and no error", oversized, err)
	}
	if want := `[{"Id":"a","Labels":{"k":"v"}},{"Id":"c","Labels":{"k":"v"}}]` + "\n"; out.String() != want {
		t.Errorf("FilterList = %.200s, want %s", out.String(), want)
	}
}

// FuzzListBound: a list is cut into the entries encoding/json reads in
// it, however the reads fall (a buffer of 16 bytes here), with those over
// the bound left out: reading an entry without holding it follows its
// strings and escapes as holding it does.
func FuzzListBound(f *testing.F) {
	f.Add(containerList(2), 16)
	f.Add(`[{"k":"`+strings.Repeat(`\\`, 9)+`\"]},{"}, {"a":[1,"\""]}, "x\\", 12345678901]`, 8)
	f.Fuzz(func(t *testing.T, list string, limit int) {
		if limit < 1 || limit > 1<<10 {
			return
		}
		var whole []json.RawMessage
		if err := json.NewDecoder(strings.NewReader(list)).Decode(&whole); err != nil || whole == nil {
			return // not a list (null decodes as none): nothing to compare
		}
		bounded, err := cutList(listReader{limit: limit}, list)
		if err != nil {
			t.Fatalf("cut with a bound of %d: %v; encoding/json: %q", limit, err, whole)
		}
		if len(bounded) != len(whole) {
			t.Fatalf("cut with a bound of %d: %q; encoding/json: %q", limit, bounded, whole)
		}
		for i, e := range whole {
			want := string(e)
			if len(e) > limit {
				want = "<over>"
			}
			if bounded[i] != want {
				t.Fatalf("entry %d with a bound of %d: %q; encoding/json: %q", i, limit, bounded[i], e)
			}
		}
	})
}

// cutList reads a list's entries with l, an entry over l's bound as
// "<over>".
func cutList(l listReader, list string) ([]string, error) {
	l.br = bufio.NewReaderSize(strings.NewReader(list), 16)
	if err := l.open(); err != nil {
		return nil, err
	}
	var entries []string
	for first := true; ; first = false {
		e, err := l.next(first)
		switch {
		case errors.Is(err, errOverBound):
			entries = append(entries, "<over>")
		case err != nil:
			return nil, err
		case e == nil:
			return entries, nil
		default:
			entries = append(entries, string(e))
		}
	}
}
