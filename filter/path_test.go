package filter

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// pathCases are shared with FuzzParsePath as seeds.
var pathCases = []struct {
	name    string
	in      string
	wantErr bool
	version string
	segs    []string
	path    string
}{
	{name: "ping", in: "/_ping", segs: []string{"_ping"}, path: "/_ping"},
	{name: "versioned", in: "/v1.41/containers/json", version: "1.41", segs: []string{"containers", "json"}, path: "/v1.41/containers/json"},
	{name: "podman version", in: "/v4.0.0/_ping", version: "4.0.0", segs: []string{"_ping"}, path: "/v4.0.0/_ping"},
	{name: "version without minor", in: "/v1/containers/json", wantErr: true},
	{name: "version with four parts", in: "/v1.2.3.4/x", wantErr: true},
	{name: "version with empty part", in: "/v1..2/_ping", wantErr: true},
	{name: "version part too long", in: "/v1.12345/_ping", wantErr: true},
	{name: "nothing after version", in: "/v1.41", wantErr: true},
	{name: "version below 1.24", in: "/v1.23/containers/x/start", wantErr: true},
	{name: "version 1.9", in: "/v1.9/_ping", wantErr: true},
	{name: "version 0.99", in: "/v0.99/_ping", wantErr: true},
	{name: "oldest served version", in: "/v1.24/_ping", version: "1.24", segs: []string{"_ping"}, path: "/v1.24/_ping"},
	{name: "leading zeros compare by number", in: "/v01.041/_ping", version: "01.041", segs: []string{"_ping"}, path: "/v01.041/_ping"},
	{name: "not a version", in: "/v/_ping", segs: []string{"v", "_ping"}, path: "/v/_ping"},
	{name: "version later in path is a name", in: "/containers/v1.41/json", segs: []string{"containers", "v1.41", "json"}, path: "/containers/v1.41/json"},
	{name: "root", in: "/", wantErr: true},
	{name: "empty", in: "", wantErr: true},
	{name: "leading double slash", in: "//containers/json", wantErr: true},
	{name: "inner double slash", in: "/containers//json", wantErr: true},
	{name: "trailing slash", in: "/containers/json/", wantErr: true},
	{name: "dot segment", in: "/containers/./json", wantErr: true},
	{name: "dot-dot segment", in: "/containers/../json", wantErr: true},
	{name: "encoded dot-dot", in: "/containers/%2e%2e/json", wantErr: true},
	{name: "encoded dot-dot upper", in: "/containers/%2E%2E/json", wantErr: true},
	{name: "encoded slash", in: "/containers/a%2fb/json", wantErr: true},
	{name: "encoded slash upper", in: "/containers/a%2Fb/json", wantErr: true},
	{name: "encoded backslash", in: "/containers/a%5cb/json", wantErr: true},
	{name: "encoded backslash upper", in: "/containers/a%5Cb/json", wantErr: true},
	{name: "double encoding", in: "/containers/%252e/json", wantErr: true},
	{name: "overlong utf-8 dot", in: "/containers/%c0%ae/json", wantErr: true},
	{name: "encoded nul", in: "/containers/a%00/json", wantErr: true},
	{name: "space", in: "/containers/a b/json", wantErr: true},
	{name: "encoded space", in: "/containers/a%20b/json", wantErr: true},
	{name: "backslash", in: "/containers/a\\b/json", wantErr: true},
	{name: "query char", in: "/containers/json?all=1", wantErr: true},
	{name: "no leading slash", in: "containers/json", wantErr: true},
	{name: "image reference with tag", in: "/images/library/busybox:1.36/json", segs: []string{"images", "library", "busybox:1.36", "json"}, path: "/images/library/busybox:1.36/json"},
	{name: "image digest", in: "/images/sha256:abc/json", segs: []string{"images", "sha256:abc", "json"}, path: "/images/sha256:abc/json"},
	{name: "reference with digest", in: "/images/busybox@sha256:abc/json", segs: []string{"images", "busybox@sha256:abc", "json"}, path: "/images/busybox@sha256:abc/json"},
	{name: "decoded letter is forwarded decoded", in: "/containers/%41bc/json", segs: []string{"containers", "Abc", "json"}, path: "/containers/Abc/json"},
	{name: "bad escape", in: "/%zz", wantErr: true},
	{name: "truncated escape", in: "/containers/%4", wantErr: true},
	{name: "non-ascii", in: "/containers/\u00e9/json", wantErr: true},
}

func TestParsePath(t *testing.T) {
	for _, tt := range pathCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePath(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParsePath(%q) = %+v, want an error", tt.in, got)
				}
				if !errors.Is(err, ErrNotCanonical) {
					t.Errorf("ParsePath(%q) error %v does not wrap ErrNotCanonical", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tt.in, err)
			}
			if got.Version != tt.version || !slices.Equal(got.Segments, tt.segs) || got.Path != tt.path {
				t.Errorf("ParsePath(%q) = {Version:%q Segments:%q Path:%q}, want {Version:%q Segments:%q Path:%q}",
					tt.in, got.Version, got.Segments, got.Path, tt.version, tt.segs, tt.path)
			}
		})
	}
}

func TestWithSegment(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/v1.41/containers/web/exec", "/v1.41/containers/" + strings.Repeat("a", 64) + "/exec"},
		{"/containers/web/start", "/containers/" + strings.Repeat("a", 64) + "/start"},
	} {
		target, err := ParsePath(c.in)
		if err != nil {
			t.Fatal(err)
		}
		got := target.WithSegment(1, strings.Repeat("a", 64))
		if got.Path != c.want || got.Segments[1] != strings.Repeat("a", 64) || target.Segments[1] != "web" {
			t.Errorf("WithSegment(%q) = %+v; original now %v", c.in, got, target.Segments)
		}
		again, err := ParsePath(got.Path)
		if err != nil || again.Path != got.Path {
			t.Errorf("rebuilt path %q does not parse back: %v", got.Path, err)
		}
	}
}
