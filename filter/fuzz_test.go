package filter

import (
	"slices"
	"strings"
	"testing"
)

func isSegmentByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("._:@+-", c) >= 0
}

func FuzzParsePath(f *testing.F) {
	for _, tt := range pathCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		target, err := ParsePath(in)
		if err != nil {
			return
		}
		p := target.Path
		if !strings.HasPrefix(p, "/") {
			t.Fatalf("ParsePath(%q).Path = %q: not absolute", in, p)
		}
		if strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") ||
			strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..") {
			t.Fatalf("ParsePath(%q).Path = %q: not canonical", in, p)
		}
		if strings.Contains(p, "%") {
			t.Fatalf("ParsePath(%q).Path = %q contains '%%'", in, p)
		}
		if len(target.Segments) == 0 {
			t.Fatalf("ParsePath(%q): no segments", in)
		}
		for _, s := range target.Segments {
			if s == "" || s == "." || s == ".." {
				t.Fatalf("ParsePath(%q): segment %q", in, s)
			}
			for i := 0; i < len(s); i++ {
				if !isSegmentByte(s[i]) {
					t.Fatalf("ParsePath(%q): segment %q has byte %q", in, s, s[i])
				}
			}
		}
		// Path is exactly the version and the segments that were checked.
		want := "/" + strings.Join(target.Segments, "/")
		if target.Version != "" {
			want = "/v" + target.Version + want
		}
		if p != want {
			t.Fatalf("ParsePath(%q).Path = %q, want %q from its version and segments", in, p, want)
		}
		// Forwarding Path and checking it again gives the same target.
		again, err := ParsePath(p)
		if err != nil {
			t.Fatalf("ParsePath(%q) = %q, which does not parse: %v", in, p, err)
		}
		if again.Version != target.Version || again.Path != target.Path || !slices.Equal(again.Segments, target.Segments) {
			t.Fatalf("ParsePath(%q) = %+v, but ParsePath(%q) = %+v", in, target, p, again)
		}
	})
}

func FuzzDecide(f *testing.F) {
	table := newTable(f)
	prof, err := NewProfile(table, "p", []string{"ContainerList", "SystemPing"})
	if err != nil {
		f.Fatal(err)
	}
	policy, err := NewPolicy(table, []*Profile{prof}, nil, "p")
	if err != nil {
		f.Fatal(err)
	}
	for _, tt := range pathCases {
		f.Add("GET", tt.in)
	}
	for _, m := range []string{"GET", "HEAD", "POST", "DELETE", "PUT", "get", "OPTIONS", ""} {
		for _, p := range []string{"/_ping", "/containers/json", "/v1.41/containers/json", "/v1.41/_ping",
			"/containers/json/json", "/containers/%6a%73%6f%6e", "/v1.41/v1.41/_ping", "/containers/json/", "/_ping/"} {
			f.Add(m, p)
		}
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		d := policy.Decide(Peer{UID: 1}, method, path)
		if !d.Allow {
			if d.Status == 200 {
				t.Fatalf("Decide(%q, %q) denied with status 200", method, path)
			}
			return
		}
		if d.Status != 200 || d.Route == nil {
			t.Fatalf("Decide(%q, %q) allowed with status %d, route %v", method, path, d.Status, d.Route)
		}
		op := d.Operation()
		segs := d.Target.Segments
		switch {
		case op == "ContainerList" && slices.Equal(segs, []string{"containers", "json"}):
		case op == "SystemPing" && slices.Equal(segs, []string{"_ping"}):
		default:
			t.Fatalf("Decide(%q, %q) allowed %s for segments %q", method, path, op, segs)
		}
		if method != "GET" && method != "HEAD" {
			t.Fatalf("Decide(%q, %q) allowed %s for method %q", method, path, op, method)
		}
		// The forwarded path is the one that was judged.
		want := "/" + strings.Join(segs, "/")
		if d.Target.Version != "" {
			want = "/v" + d.Target.Version + want
		}
		if d.Target.Path != want {
			t.Fatalf("Decide(%q, %q) forwards %q, judged %q", method, path, d.Target.Path, want)
		}
	})
}
