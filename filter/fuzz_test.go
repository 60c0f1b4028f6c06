package filter

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
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
		d := policy.Decide(Caller{Peer: Peer{UID: 1}, Known: true}, &Request{Method: method, EscapedPath: path})
		if d.Verdict == Pending {
			t.Fatalf("Decide(%q, %q) pending at %s: neither operation needs a body or a lookup", method, path, d.Step)
		}
		if !d.Allowed() {
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
		if d.Target.Path != want || d.Path != want {
			t.Fatalf("Decide(%q, %q) forwards %q (target %q), judged %q", method, path, d.Path, d.Target.Path, want)
		}
	})
}

// FuzzJudgeCreate: whatever ContainerCreate body the safe create rules
// accept, settled the way the proxy settles it, the engine's own reading
// of it (encoding/json, first value only, unknown keys ignored) is a
// container without privilege, host paths, host namespaces, added
// capabilities or devices.
func FuzzJudgeCreate(f *testing.F) {
	seeds := []string{
		`{"Image":"x","HostConfig":{"Privileged":true}}`,
		`{"Image":"x","hostconfig":{"privileged":true}}`,
		`{"Image":"x","HostConfig":{"Privileged":false,"privileged":true}}`,
		`{"Image":"x","HostConfig":{"Binds":["/:/h"],"NetworkMode":"host"}}`,
		`{"Image":"x"} {"HostConfig":{"Privileged":true}}`,
		`{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/","Target":"/h"}]}}`,
		`{"Image":"x","HostConfig":{"CapAdd":["ALL"],"Devices":[{"PathOnHost":"/dev/sda"}]}}`,
		`{"Image":"x","Cmd":["true"],"HostConfig":{"Binds":["v:/v"],"CapDrop":["ALL"]}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	table := newTable(f)
	prof, err := NewProfile(table, "p", []string{"ContainerCreate"})
	if err != nil {
		f.Fatal(err)
	}
	policy, err := NewPolicy(table, []*Profile{prof}, nil, "p")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := &Request{Method: "POST", EscapedPath: "/v1.41/containers/create", ContentLength: int64(len(body)),
			ContentTypes: []string{"application/json"}}
		// plainWorld: every host path resolves to itself, no named
		// network or volume exists, the engine runs cgroup v2.
		if d := settle(t, policy, anyone, req, body, plainWorld.fact); !d.Allowed() {
			if d.Verdict == Pending || d.Status == 200 {
				t.Fatalf("refused %q with verdict %d, status %d", body, d.Verdict, d.Status)
			}
			return
		}
		var engine container.CreateRequest
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(&engine); err != nil {
			t.Fatalf("accepted a body the engine cannot decode: %q: %v", body, err)
		}
		hc := engine.HostConfig
		if hc == nil {
			return
		}
		if hc.Privileged || len(hc.CapAdd) > 0 || len(hc.Devices) > 0 || hc.NetworkMode == "host" ||
			hc.PidMode == "host" || hc.UsernsMode == "host" || len(hc.SecurityOpt) > 0 && hc.SecurityOpt[0] != "no-new-privileges" {
			t.Fatalf("accepted %q, which the engine reads as %+v", body, hc)
		}
		for _, b := range hc.Binds {
			if strings.HasPrefix(b, "/") && strings.Contains(b, ":") {
				t.Fatalf("accepted host bind %q in %q", b, body)
			}
		}
		for _, m := range hc.Mounts {
			if m.Type == "bind" {
				t.Fatalf("accepted bind mount in %q", body)
			}
		}
	})
}
