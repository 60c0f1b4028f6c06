package config

import (
	"os"
	"os/user"
	"strconv"
	"strings"
	"testing"
)

func TestResolveID(t *testing.T) {
	tests := []struct {
		in      string
		want    uint32
		wantErr string
	}{
		{"2000", 2000, ""},
		{"0", 0, ""},
		{"docker-readers", 2000, ""},
		{"deployers", 2001, ""},
		{"4294967296", 0, "unknown group 4294967296"}, // beyond a gid: a name, and none has it
		{"-1", 0, "unknown group -1"},
		{"nogroup-here", 0, "unknown group nogroup-here"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ResolveID(tt.in, testResolver.LookupGroup)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ResolveID(%q) = %d, %v; want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ResolveID(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestSystemResolver resolves the test's own user and group by name, as
// the system databases know them.
func TestSystemResolver(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(strconv.Itoa(os.Getegid()))
	if err != nil {
		t.Fatal(err)
	}
	var res SystemResolver
	if uid, err := ResolveID(u.Username, res.LookupUser); err != nil || uid != uint32(os.Geteuid()) {
		t.Errorf("user %q: %d, %v; want %d", u.Username, uid, err, os.Geteuid())
	}
	if gid, err := ResolveID(g.Name, res.LookupGroup); err != nil || gid != uint32(os.Getegid()) {
		t.Errorf("group %q: %d, %v; want %d", g.Name, gid, err, os.Getegid())
	}
	if _, err := ResolveID("no-such-group-xyz", res.LookupGroup); err == nil {
		t.Error("a group that does not exist resolved")
	}
}
