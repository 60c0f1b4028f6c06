package filter

import (
	"net/http"
	"strings"
	"testing"
)

func u32(v uint32) *uint32 { return &v }

func newTestProfile(t testing.TB, table *RouteTable, name string, entries ...string) *Profile {
	t.Helper()
	p, err := NewProfile(table, name, entries)
	if err != nil {
		t.Fatalf("NewProfile(%s): %v", name, err)
	}
	return p
}

func TestDecide(t *testing.T) {
	table := newTable(t)
	profiles := []*Profile{
		newTestProfile(t, table, "reader", "containers:read", "SystemPing"),
		newTestProfile(t, table, "admin", "containers", "images"),
		newTestProfile(t, table, "logs", "ContainerLogs"),
		newTestProfile(t, table, "pinger", "SystemPing"),
	}
	clients := []Client{
		{Name: "clients[0]", UID: u32(1000), Profile: "reader"},
		{Name: "clients[1]", GID: u32(2000), Profile: "admin"},
		{Name: "clients[2]", UID: u32(1001), GID: u32(2001), Profile: "logs"},
		{Name: "clients[3]", UID: u32(1000), Profile: "pinger"}, // shadowed by clients[0]
		{Name: "clients[4]", UID: u32(1002), Profile: NoProfile},
	}
	withDefault, err := NewPolicy(table, profiles, clients, "pinger")
	if err != nil {
		t.Fatalf("NewPolicy: %v", err)
	}
	denyDefault, err := NewPolicy(table, profiles, clients, NoProfile)
	if err != nil {
		t.Fatalf("NewPolicy: %v", err)
	}

	const (
		ok  = http.StatusOK
		bad = http.StatusBadRequest
		no  = http.StatusForbidden
	)
	tests := []struct {
		name    string
		policy  *Policy
		peer    Peer
		method  string
		path    string
		allow   bool
		op      string
		profile string
		rule    string
		status  int
	}{
		{"uid match", withDefault, Peer{UID: 1000, GID: 1000}, "GET", "/containers/json", true, "ContainerList", "reader", "clients[0]", ok},
		{"versioned path", withDefault, Peer{UID: 1000, GID: 1000}, "GET", "/v1.41/containers/json", true, "ContainerList", "reader", "clients[0]", ok},
		{"HEAD falls back to GET", withDefault, Peer{UID: 1000, GID: 1000}, "HEAD", "/v1.41/containers/abc/json", true, "ContainerInspect", "reader", "clients[0]", ok},
		{"read group has no writes", withDefault, Peer{UID: 1000, GID: 1000}, "POST", "/containers/create", false, "ContainerCreate", "reader", "clients[0]", no},
		{"read group has no sensitive reads", withDefault, Peer{UID: 1000, GID: 1000}, "GET", "/containers/abc/archive", false, "ContainerArchive", "reader", "clients[0]", no},
		{"first match wins over a later uid entry", withDefault, Peer{UID: 1000, GID: 1000}, "GET", "/_ping", true, "SystemPing", "reader", "clients[0]", ok},
		{"first match wins over a later gid entry", withDefault, Peer{UID: 1000, GID: 2000}, "POST", "/containers/create", false, "ContainerCreate", "reader", "clients[0]", no},
		{"gid match via primary group", withDefault, Peer{UID: 5, GID: 2000}, "POST", "/v1.44/containers/create", true, "ContainerCreate", "admin", "clients[1]", ok},
		{"gid match via supplementary group", withDefault, Peer{UID: 5, GID: 7, Groups: []uint32{3, 2000}}, "DELETE", "/images/library/busybox:latest", true, "ImageDelete", "admin", "clients[1]", ok},
		{"group does not grant other sections", withDefault, Peer{UID: 5, GID: 2000}, "GET", "/networks", false, "NetworkList", "admin", "clients[1]", no},
		{"uid and gid both hold", withDefault, Peer{UID: 1001, GID: 2001}, "GET", "/containers/abc/logs", true, "ContainerLogs", "logs", "clients[2]", ok},
		{"uid and supplementary gid both hold", withDefault, Peer{UID: 1001, GID: 7, Groups: []uint32{2001}}, "GET", "/containers/abc/logs", true, "ContainerLogs", "logs", "clients[2]", ok},
		{"uid without the gid falls to default", withDefault, Peer{UID: 1001, GID: 7}, "GET", "/containers/abc/logs", false, "ContainerLogs", "pinger", "default", no},
		{"gid without the uid falls to default", withDefault, Peer{UID: 5, GID: 2001}, "GET", "/containers/abc/logs", false, "ContainerLogs", "pinger", "default", no},
		{"default profile allows", withDefault, Peer{UID: 9, GID: 9}, "GET", "/_ping", true, "SystemPing", "pinger", "default", ok},
		{"default profile HEAD ping is its own operation", withDefault, Peer{UID: 9, GID: 9}, "HEAD", "/_ping", false, "SystemPingHead", "pinger", "default", no},
		{"client with profile none", withDefault, Peer{UID: 1002, GID: 9}, "GET", "/_ping", false, "SystemPing", NoProfile, "clients[4]", no},
		{"default none", denyDefault, Peer{UID: 9, GID: 9}, "GET", "/_ping", false, "SystemPing", NoProfile, "default", no},
		{"default none still lets clients match", denyDefault, Peer{UID: 1000, GID: 9}, "GET", "/_ping", true, "SystemPing", "reader", "clients[0]", ok},
		{"unknown route", withDefault, Peer{UID: 5, GID: 2000}, "GET", "/v1.41/nothing", false, "unknown route", "admin", "clients[1]", no},
		{"container id spanning segments", withDefault, Peer{UID: 5, GID: 2000}, "GET", "/containers/a/b/json", false, "unknown route", "admin", "clients[1]", no},
		{"lowercase method", withDefault, Peer{UID: 1000}, "get", "/containers/json", false, "unknown route", "reader", "clients[0]", no},
		{"PATCH", withDefault, Peer{UID: 1000}, "PATCH", "/containers/json", false, "unknown route", "reader", "clients[0]", no},
		{"non-canonical path", withDefault, Peer{UID: 1000}, "GET", "/containers/../json", false, "unknown route", "reader", "clients[0]", bad},
		{"encoded slash", withDefault, Peer{UID: 5, GID: 2000}, "GET", "/images/library%2fbusybox/json", false, "unknown route", "admin", "clients[1]", bad},
		{"malformed version", withDefault, Peer{UID: 1000}, "GET", "/v1/containers/json", false, "unknown route", "reader", "clients[0]", bad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.policy.Decide(tt.peer, tt.method, tt.path)
			if d.Allow != tt.allow {
				t.Errorf("Allow = %v, want %v (reason %q)", d.Allow, tt.allow, d.Reason)
			}
			if got := d.Operation(); got != tt.op {
				t.Errorf("Operation() = %q, want %q", got, tt.op)
			}
			if d.Profile != tt.profile {
				t.Errorf("Profile = %q, want %q", d.Profile, tt.profile)
			}
			if d.Rule != tt.rule {
				t.Errorf("Rule = %q, want %q", d.Rule, tt.rule)
			}
			if d.Status != tt.status {
				t.Errorf("Status = %d, want %d", d.Status, tt.status)
			}
			if strings.TrimSpace(d.Reason) == "" {
				t.Errorf("Reason is empty")
			}
			if (d.Route == nil) != (tt.op == "unknown route") {
				t.Errorf("Route = %v for operation %q", d.Route, tt.op)
			}
		})
	}
}

func TestDecideTarget(t *testing.T) {
	table := newTable(t)
	p, err := NewPolicy(table, []*Profile{newTestProfile(t, table, "all", "containers")}, nil, "all")
	if err != nil {
		t.Fatal(err)
	}
	d := p.Decide(Peer{}, "GET", "/v1.41/containers/%41bc/json")
	if !d.Allow || d.Target.Version != "1.41" || d.Target.Path != "/v1.41/containers/Abc/json" {
		t.Errorf("Decide = {Allow:%v Target:%+v}, want allowed with version 1.41 and path /v1.41/containers/Abc/json", d.Allow, d.Target)
	}
}

func TestNewPolicyErrors(t *testing.T) {
	table := newTable(t)
	a := newTestProfile(t, table, "a", "SystemPing")
	a2 := newTestProfile(t, table, "a", "SystemVersion")
	none := newTestProfile(t, table, NoProfile, "SystemPing")
	tests := []struct {
		name     string
		profiles []*Profile
		clients  []Client
		fallback string
		want     string
	}{
		{"undefined profile in a client", []*Profile{a}, []Client{{Name: "clients[3]", UID: u32(1), Profile: "b"}}, "a", `clients[3]: profile "b" is not defined`},
		{"undefined default", []*Profile{a}, nil, "b", `default: profile "b" is not defined`},
		{"empty default", []*Profile{a}, nil, "", `default: profile "" is not defined`},
		{"duplicate profile", []*Profile{a, a2}, nil, "a", `profile "a" defined twice`},
		{"profile named none", []*Profile{none}, nil, NoProfile, `"none" is reserved`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPolicy(table, tt.profiles, tt.clients, tt.fallback)
			if err == nil {
				t.Fatalf("NewPolicy = %v, want an error", p)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}

	// Every undefined reference is reported, not just the first.
	_, err := NewPolicy(table, []*Profile{a}, []Client{
		{Name: "clients[0]", UID: u32(1), Profile: "x"},
		{Name: "clients[1]", UID: u32(2), Profile: "y"},
	}, "z")
	if err == nil {
		t.Fatal("NewPolicy with three undefined profiles succeeded")
	}
	for _, want := range []string{`"x"`, `"y"`, `"z"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestNewProfileErrors(t *testing.T) {
	table := newTable(t)
	_, err := NewProfile(table, "p", []string{"ContainerList", "containers:exec", "Nope"})
	if err == nil {
		t.Fatal("NewProfile with bad entries succeeded")
	}
	for _, want := range []string{"containers:exec", "Nope"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	p := newTestProfile(t, table, "p", "ContainerList", "ping:read", "ContainerList")
	got := strings.Join(p.Operations(), ",")
	if want := "ContainerList,SystemPing,SystemPingHead"; got != want {
		t.Errorf("Operations() = %s, want %s", got, want)
	}
}

func TestDecideRequestBody(t *testing.T) {
	policy := onePolicy(t, []string{"ContainerStart", "ContainerCreate"}, nil)
	cases := []struct {
		method, path string
		length       int64
		allow        bool
		status       int
	}{
		{"POST", "/v1.41/containers/x/start", 0, true, 200},
		{"POST", "/v1.41/containers/x/start", 2, false, 400},
		{"POST", "/v1.41/containers/x/start", -1, false, 400},
		{"POST", "/v1.41/containers/create", 100, true, 200},
		{"POST", "/v1.41/containers/create", -1, true, 200},
	}
	for _, c := range cases {
		d := policy.DecideRequest(Peer{}, c.method, c.path, c.length)
		if d.Allow != c.allow || d.Status != c.status {
			t.Errorf("%s %s with body length %d: allow %v status %d (%s), want %v %d",
				c.method, c.path, c.length, d.Allow, d.Status, d.Reason, c.allow, c.status)
		}
	}
}

// onePolicy builds a policy whose one profile, "p", allows ops and is
// every peer's default; edit may set its rules.
func onePolicy(t *testing.T, ops []string, edit func(*Profile)) *Policy {
	t.Helper()
	table, err := NewRouteTable()
	if err != nil {
		t.Fatal(err)
	}
	prof, err := NewProfile(table, "p", ops)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(prof)
	}
	policy, err := NewPolicy(table, []*Profile{prof}, nil, "p")
	if err != nil {
		t.Fatal(err)
	}
	return policy
}

func TestJudgeQuery(t *testing.T) {
	strict := onePolicy(t, []string{"ImageBuild"}, nil)
	loose := onePolicy(t, []string{"ImageBuild"}, func(p *Profile) { p.Create.HostNamespaces, p.Create.CgroupParent = true, true })
	cases := []struct {
		policy *Policy
		query  string
		want   string
	}{
		{strict, "t=x&networkmode=none", ""},
		{strict, "networkmode=default", ""},
		{strict, "networkmode=host", "network mode"},
		{strict, "networkmode=none&networkmode=host", ""},
		{strict, "networkmode=container:abc", "network mode"},
		{strict, "cgroupparent=/", "cgroup parent"},
		{strict, "networkmode=host;x=1", "query"},
		{loose, "networkmode=host&cgroupparent=/x", ""},
	}
	for _, c := range cases {
		d := c.policy.DecideRequest(Peer{}, "POST", "/v1.41/build", -1)
		err := c.policy.JudgeQuery(&d, c.query)
		if c.want == "" {
			if err != nil {
				t.Errorf("%q: %v", c.query, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.query, err, c.want)
		}
	}
}

func TestJudgeQueryServiceRollback(t *testing.T) {
	policy := onePolicy(t, []string{"ServiceUpdate"}, nil)
	d := policy.DecideRequest(Peer{}, "POST", "/v1.41/services/s/update", 10)
	if err := policy.JudgeQuery(&d, "version=3&rollback=previous"); err == nil || !strings.Contains(err.Error(), "rollback") {
		t.Errorf("rollback: %v", err)
	}
	if err := policy.JudgeQuery(&d, "version=3"); err != nil {
		t.Errorf("plain update: %v", err)
	}
}
