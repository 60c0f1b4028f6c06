package filter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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
		if err := v.FilterList(io.Discard, strings.NewReader(list)); err != nil {
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
			err := v.FilterList(&buf, strings.NewReader(c.list))
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
		err := v.FilterList(&got, strings.NewReader(list))
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

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestListElementBound: an entry over the bound is refused as soon as it
// passes it, whatever it is made of, not once it was read whole: one
// container's label must not cost the filter its size in memory.
func TestListElementBound(t *testing.T) {
	const limit = 64 << 10
	long := strings.Repeat("a", 4<<20)
	for _, c := range []struct{ name, list string }{
		{"one long string", `[{"Labels":{"k":"` + long + `"}}]`},
		{"one long escaped string", `[{"Labels":{"k":"` + strings.Repeat(`\"`, 2<<20) + `"}}]`},
		{"one long literal", `[` + strings.Repeat("1", 4<<20) + `]`},
		{"many short members", `[{"Labels":{` + strings.Repeat(`"a":[],`, 1<<20) + `"k":"v"}}]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := &countingReader{r: strings.NewReader(c.list)}
			l := listReader{br: bufio.NewReaderSize(src, 32<<10), limit: limit}
			if err := l.open(); err != nil {
				t.Fatal(err)
			}
			if _, err := l.next(true); err == nil {
				t.Fatal("an entry over the bound was read")
			}
			if src.n > limit+64<<10 || cap(l.elem) > 2*limit {
				t.Errorf("read %d bytes and held %d for a bound of %d", src.n, cap(l.elem), limit)
			}
		})
	}
}
