package filter

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
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

	withSwarm, err := NewPolicy(table, []*Profile{
		newTestProfile(t, table, "swarm", "swarm"),
		newTestProfile(t, table, "swarm-admin", "SwarmInspect", "SwarmJoin"),
	}, []Client{{Name: "clients[0]", UID: u32(1001), Profile: "swarm-admin"}}, "swarm")
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
		{"swarm inspect is not in the swarm group", withSwarm, Peer{UID: 1000}, "GET", "/swarm", false, "SwarmInspect", "swarm", "default", no},
		{"swarm inspect by its own id", withSwarm, Peer{UID: 1001}, "GET", "/swarm", true, "SwarmInspect", "swarm-admin", "clients[0]", ok},
		{"swarm init is not in the swarm group", withSwarm, Peer{UID: 1000}, "POST", "/swarm/init", false, "SwarmInit", "swarm", "default", no},
		{"swarm join by its own id", withSwarm, Peer{UID: 1001}, "POST", "/swarm/join", true, "SwarmJoin", "swarm-admin", "clients[0]", ok},
		{"swarm leave is in the swarm group", withSwarm, Peer{UID: 1000}, "POST", "/swarm/leave", true, "SwarmLeave", "swarm", "default", ok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(tt.method, tt.path, "")
			body := ""
			if tt.method == "POST" && strings.HasSuffix(tt.path, "/containers/create") {
				body = `{"Image":"x"}`
				req = newRequest(tt.method, tt.path, body)
			}
			d := settle(t, tt.policy, Caller{Peer: tt.peer, Known: true}, req, []byte(body), plainWorld.fact)
			if d.Allowed() != tt.allow {
				t.Errorf("Allowed() = %v, want %v (step %s, reason %q)", d.Allowed(), tt.allow, d.Step, d.Reason)
			}
			if got := d.Operation(); got != tt.op {
				t.Errorf("Operation() = %q, want %q", got, tt.op)
			}
			if d.ProfileName() != tt.profile {
				t.Errorf("ProfileName() = %q, want %q", d.ProfileName(), tt.profile)
			}
			if (d.Profile == nil) != (tt.profile == NoProfile) {
				t.Errorf("Profile = %v for profile name %q", d.Profile, tt.profile)
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
	d := p.Decide(anyone, newRequest("GET", "/v1.41/containers/%41bc/json?size=1", ""))
	if !d.Allowed() || d.Version != "1.41" || d.Target.Version != "1.41" || d.Target.Path != "/v1.41/containers/Abc/json" ||
		d.Path != "/v1.41/containers/Abc/json" || d.RawQuery != "size=1" {
		t.Errorf("Decide = {Verdict:%d Path:%s RawQuery:%s Target:%+v}, want allowed with version 1.41 and path /v1.41/containers/Abc/json?size=1",
			d.Verdict, d.Path, d.RawQuery, d.Target)
	}
}

// TestDecideCaller: a connection without peer credentials is denied
// everything, before any profile is chosen.
func TestDecideCaller(t *testing.T) {
	policy := onePolicy(t, []string{"SystemPing"}, nil)
	d := policy.Decide(Caller{}, newRequest("GET", "/_ping", ""))
	if d.Verdict != Deny || d.Step != StepCaller || d.Status != http.StatusForbidden || d.Profile != nil {
		t.Errorf("unknown caller: verdict %d at %s (%d), profile %v: %s", d.Verdict, d.Step, d.Status, d.Profile, d.Reason)
	}
	d = policy.Decide(anyone, newRequest("GET", "/_ping", ""))
	if !d.Allowed() || d.Step != StepAllowed || d.ProfileName() != "p" {
		t.Errorf("known caller: verdict %d at %s, profile %s: %s", d.Verdict, d.Step, d.ProfileName(), d.Reason)
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
	policy := onePolicy(t, []string{"ContainerStart", "ContainerCreate", "ImageLoad", "ContainerList"}, nil)
	w := &world{containers: map[string]*container.HostConfig{"x": {}}}
	const create = `{"Image":"x"}`
	cases := []struct {
		method, path string
		length       int64
		types        []string
		allow        bool
		status       int
		step         Step
	}{
		{"POST", "/v1.41/containers/x/start", 0, nil, true, 200, StepAllowed},
		{"POST", "/v1.41/containers/x/start", 2, nil, false, 400, StepFraming},
		{"POST", "/v1.41/containers/x/start", -1, nil, false, 400, StepFraming},
		{"POST", "/v1.41/containers/create", 100, []string{"application/json"}, true, 200, StepAllowed},
		{"POST", "/v1.41/containers/create", -1, nil, true, 200, StepAllowed},
		{"POST", "/v1.41/containers/create", -1, []string{"application/json; charset=utf-8"}, true, 200, StepAllowed},
		{"POST", "/v1.41/containers/create", -1, []string{""}, true, 200, StepAllowed},
		// The engine reads a form body's fields as query parameters.
		{"POST", "/v1.41/containers/create", 10, []string{"application/x-www-form-urlencoded"}, false, 400, StepFraming},
		{"POST", "/v1.41/containers/create", 10, []string{"multipart/form-data; boundary=x"}, false, 400, StepFraming},
		{"POST", "/v1.41/images/load", -1, []string{"application/x-www-form-urlencoded"}, false, 400, StepFraming},
		{"POST", "/v1.41/images/load", -1, []string{"Multipart/Form-Data; boundary=x"}, false, 400, StepFraming},
		{"POST", "/v1.41/images/load", -1, []string{"application/x-tar"}, true, 200, StepAllowed},
		{"GET", "/v1.41/containers/json", 0, []string{"application/x-www-form-urlencoded"}, false, 400, StepFraming},
		{"POST", "/v1.41/containers/create", -1, []string{"application/json", "application/json"}, false, 400, StepFraming},
		{"POST", "/v1.41/containers/create", -1, []string{"application/json;;"}, false, 400, StepFraming},
	}
	for _, c := range cases {
		req := &Request{Method: c.method, EscapedPath: c.path, ContentLength: c.length, ContentTypes: c.types}
		d := settle(t, policy, anyone, req, []byte(create), w.fact)
		if d.Allowed() != c.allow || d.Status != c.status || d.Step != c.step {
			t.Errorf("%s %s with body length %d and Content-Type %q: allowed %v status %d at %s (%s), want %v %d at %s",
				c.method, c.path, c.length, c.types, d.Allowed(), d.Status, d.Step, d.Reason, c.allow, c.status, c.step)
		}
	}
}

// TestDecidePending: a judged body is asked for before it is judged,
// and too long a body is refused.
func TestDecidePending(t *testing.T) {
	policy := onePolicy(t, []string{"ContainerCreate", "ContainerStart"}, nil)
	req := newRequest("POST", "/v1.41/containers/create", `{"Image":"x"}`)
	d := policy.Decide(anyone, req)
	if d.Verdict != Pending || !d.NeedBody || d.Step != StepBody {
		t.Errorf("create without its body: verdict %d at %s, NeedBody %v", d.Verdict, d.Step, d.NeedBody)
	}
	req.Body, req.BodyTooLarge, req.BodyLimit = []byte(`{"Image":"x"}`), true, 5
	d = policy.Decide(anyone, req)
	if d.Verdict != Deny || d.Status != http.StatusRequestEntityTooLarge || !strings.Contains(d.Reason, "over 5 bytes") {
		t.Errorf("too long a body: verdict %d (%d): %s", d.Verdict, d.Status, d.Reason)
	}
	d = policy.Decide(anyone, newRequest("POST", "/v1.41/containers/abc/start", ""))
	if d.Verdict != Pending || d.NeedBody || !slices.Equal(d.Lookups, []Lookup{{LookupContainer, "abc"}}) {
		t.Errorf("start: verdict %d, NeedBody %v, lookups %v; want pending on container abc", d.Verdict, d.NeedBody, d.Lookups)
	}
	lookupFailed := func(Lookup) Fact { return Fact{Err: errors.New("engine down")} }
	d = settle(t, policy, anyone, newRequest("POST", "/v1.41/containers/abc/start", ""), nil, lookupFailed)
	if d.Verdict != Deny || d.Status != http.StatusBadGateway || d.Step != StepTarget || !strings.Contains(d.Reason, "engine down") {
		t.Errorf("start, inspect failing: verdict %d at %s (%d): %s", d.Verdict, d.Step, d.Status, d.Reason)
	}
	d = settle(t, policy, anyone, newRequest("POST", "/v1.41/containers/abc/start", ""), nil, plainWorld.fact)
	if d.Verdict != Deny || d.Status != http.StatusNotFound || !strings.Contains(d.Reason, "No such container: abc") {
		t.Errorf("start of a missing container: verdict %d (%d): %s", d.Verdict, d.Status, d.Reason)
	}
	bad := func(Lookup) Fact { return Fact{Container: &ContainerFact{ID: "abc"}} }
	d = settle(t, policy, anyone, newRequest("POST", "/v1.41/containers/abc/start", ""), nil, bad)
	if d.Verdict != Deny || d.Status != http.StatusBadGateway {
		t.Errorf("start, inspect without a full id: verdict %d (%d): %s", d.Verdict, d.Status, d.Reason)
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
	ops := []string{"ImageBuild", "ImageCreate", "ImagePush", "ImageSearch", "GetPluginPrivileges", "DistributionInspect"}
	strict := onePolicy(t, ops, nil)
	loose := onePolicy(t, append(ops, "Session"), func(p *Profile) {
		p.Create.HostNamespaces, p.Create.CgroupParent, p.Create.RemoteFetch = true, true, true
	})
	// Build outputs are judged against what else the profile allows.
	noPush := slices.DeleteFunc(slices.Clone(ops), func(op string) bool { return op == "ImagePush" })
	builder := onePolicy(t, noPush, func(p *Profile) { p.Create.RemoteFetch = true })
	saver := onePolicy(t, append(noPush, "ImageGet"), func(p *Profile) { p.Create.RemoteFetch = true })
	pusher := onePolicy(t, ops, func(p *Profile) { p.Create.RemoteFetch = true })
	localPusher := onePolicy(t, append(slices.Clone(ops), "Session"), nil)
	v1 := &world{cgroup: "1"}
	cases := []struct {
		policy *Policy
		world  *world
		method string
		target string
		want   string
		status int
	}{
		{builder, plainWorld, "POST", "/v1.41/build?t=x&networkmode=none", "", 200},
		{builder, plainWorld, "POST", "/v1.41/build?networkmode=default", "", 200},
		{builder, plainWorld, "POST", "/v1.41/build?networkmode=bridge", "", 200},
		{builder, plainWorld, "POST", "/v1.41/build?networkmode=host", "network mode", 403},
		{builder, plainWorld, "POST", "/v1.41/build?networkmode=none&networkmode=host", "given 2 times", 400},
		{builder, plainWorld, "POST", "/v1.41/build?networkmode=container:abc", "network mode", 403},
		{builder, plainWorld, "POST", "/v1.41/build?cgroupparent=/", "cgroup parent", 403},
		{builder, plainWorld, "POST", "/v1.41/build?networkmode=host;x=1", "query", 400},
		{builder, plainWorld, "POST", "/v1.41/build?t=a&t=b&buildargs=%7B%7D", "", 200}, // free parameters may repeat
		{loose, plainWorld, "POST", "/v1.41/build?networkmode=host&cgroupparent=/x", "", 200},
		// The legacy builder fetches what the Dockerfile names itself, on
		// the host's network, and runs its steps with the engine's
		// defaults: the host's cgroup namespace on cgroup v1.
		{strict, plainWorld, "POST", "/v1.41/build", "remote_fetch", 403},
		{builder, v1, "POST", "/v1.41/build", "cgroup v1", 403},
		{loose, v1, "POST", "/v1.41/build", "", 200},
		// A remote context is fetched from the host's network.
		{strict, plainWorld, "POST", "/v1.41/build?remote=https://example.com/ctx.tar", "remote_fetch", 403},
		{builder, plainWorld, "POST", "/v1.41/build?remote=", "", 200},
		{loose, plainWorld, "POST", "/v1.41/build?remote=https://example.com/ctx.tar", "", 200},
		{strict, plainWorld, "POST", "/v1.41/images/create?fromSrc=http://example.com/rootfs.tar&repo=x", "remote_fetch", 403},
		{strict, plainWorld, "POST", "/v1.41/images/create?fromSrc=-&repo=x", "", 200},
		{strict, plainWorld, "POST", "/v1.41/images/create?fromSrc=-&fromSrc=http://example.com/x", "given 2 times", 400},
		{loose, plainWorld, "POST", "/v1.41/images/create?fromSrc=http://example.com/rootfs.tar", "", 200},
		// Registries other than Docker Hub are reached from the host's
		// network: the loopback's, an internal one.
		{strict, plainWorld, "POST", "/v1.41/images/create?fromImage=busybox&tag=latest", "", 200},
		{strict, plainWorld, "POST", "/v1.41/images/create?fromImage=library/busybox", "", 200},
		{strict, plainWorld, "POST", "/v1.41/images/create?fromImage=docker.io/library/busybox", "", 200},
		{strict, plainWorld, "POST", "/v1.41/images/create?fromImage=127.0.0.1:5000/x", "remote_fetch", 403},
		{strict, plainWorld, "POST", "/v1.41/images/create?fromImage=localhost/x", "remote_fetch", 403},
		{strict, plainWorld, "POST", "/v1.41/images/create?fromImage=registry.internal/x", "remote_fetch", 403},
		{loose, plainWorld, "POST", "/v1.41/images/create?fromImage=127.0.0.1:5000/x", "", 200},
		{strict, plainWorld, "GET", "/v1.41/images/search?term=127.0.0.1:5000/x", "remote_fetch", 403},
		{strict, plainWorld, "GET", "/v1.41/images/search?term=busybox", "", 200},
		{strict, plainWorld, "GET", "/v1.41/plugins/privileges?remote=127.0.0.1:5000/p:latest", "remote_fetch", 403},
		{strict, plainWorld, "GET", "/v1.41/distribution/127.0.0.1:5000/x:latest/json", "remote_fetch", 403},
		{strict, plainWorld, "GET", "/v1.41/distribution/busybox:latest/json", "", 200},
		{strict, plainWorld, "POST", "/v1.41/images/ghcr.io/o/app/push", "remote_fetch", 403},
		{strict, plainWorld, "POST", "/v1.41/images/o/app/push?tag=1", "", 200},
		// BuildKit builds run over Session, granted by its own id.
		{builder, plainWorld, "POST", "/v1.41/build?version=2", "Session", 403},
		{builder, plainWorld, "POST", "/v1.41/build?version=1", "", 200},
		{builder, plainWorld, "POST", "/v1.41/build?version=", "", 200},
		{loose, plainWorld, "POST", "/v1.41/build?version=2", "", 200},
		// A build's outputs leave the engine as a save or a push would.
		{builder, plainWorld, "POST", "/v1.41/build?outputs=" + url.QueryEscape(`[{"Type":"moby"}]`), "", 200},
		{builder, plainWorld, "POST", "/v1.41/build?outputs=" + url.QueryEscape(`[{"Type":"cacheonly"}]`), "", 200},
		{builder, plainWorld, "POST", "/v1.41/build?outputs=" + url.QueryEscape(`[{"Type":"tar"}]`), "ImageGet", 403},
		{builder, plainWorld, "POST", "/v1.41/build?outputs=" + url.QueryEscape(`[{"Type":"local","Attrs":{"dest":"/x"}}]`), "ImageGet", 403},
		{saver, plainWorld, "POST", "/v1.41/build?outputs=" + url.QueryEscape(`[{"Type":"tar"}]`), "", 200},
		{builder, plainWorld, "POST", "/v1.41/build?outputs=" + url.QueryEscape(`[{"Type":"image","Attrs":{"name":"x","push":"true"}}]`), "ImagePush", 403},
		{builder, plainWorld, "POST", "/v1.41/build?outputs=" + url.QueryEscape(`[{"Type":"image","Attrs":{"PUSH":"1"}}]`), "ImagePush", 403},
		{builder, plainWorld, "POST", "/v1.41/build?outputs=" + url.QueryEscape(`[{"Type":"image","Attrs":{"push":"maybe"}}]`), "ImagePush", 403},
		{builder, plainWorld, "POST", "/v1.41/build?outputs=" + url.QueryEscape(`[{"Type":"image","Attrs":{"push":"false"}}]`), "", 200},
		{builder, plainWorld, "POST", "/v1.41/build?outputs=" + url.QueryEscape(`[{"Type":"registry","Attrs":{"name":"x"}}]`), "ImagePush", 403},
		{saver, plainWorld, "POST", "/v1.41/build?outputs=" + url.QueryEscape(`[{"Type":"registry","Attrs":{"name":"x"}}]`), "ImagePush", 403},
		{localPusher, plainWorld, "POST", "/v1.41/build?version=2&outputs=" + url.QueryEscape(`[{"Type":"registry","Attrs":{"name":"x"}}]`), "remote_fetch", 403},
		{pusher, plainWorld, "POST", "/v1.41/build?outputs=" + url.QueryEscape(`[{"Type":"registry","Attrs":{"name":"x"}}]`), "", 200},
		{builder, plainWorld, "POST", "/v1.41/build?outputs=" + url.QueryEscape(`[{"Type":"exotic"}]`), "output type", 403},
		{builder, plainWorld, "POST", "/v1.41/build?outputs=" + url.QueryEscape(`[{"Type":"tar","Extra":1}]`), "outputs", 400},
	}
	for _, c := range cases {
		req := newRequest(c.method, c.target, "")
		req.ContentLength = 0
		d := settle(t, c.policy, anyone, req, nil, c.world.fact)
		wantRefusal(t, c.method+" "+c.target, d, StepQuery, c.status, c.want)
	}
}

func TestJudgeQueryServiceRollback(t *testing.T) {
	policy := onePolicy(t, []string{"ServiceUpdate"}, nil)
	const spec = `{"TaskTemplate":{"ContainerSpec":{"Image":"x"}}}`
	// The query is judged before the body is read.
	d := policy.Decide(anyone, newRequest("POST", "/v1.41/services/s/update?version=3&rollback=previous", spec))
	wantRefusal(t, "rollback", d, StepQuery, http.StatusForbidden, "rollback")
	d = settle(t, policy, anyone, newRequest("POST", "/v1.41/services/s/update?version=3", spec), []byte(spec), plainWorld.fact)
	wantRefusal(t, "plain update", d, StepQuery, 0, "")
}

// TestJudgePsArgs: a profile that redacts environments refuses the ps
// options that print them.
func TestJudgePsArgs(t *testing.T) {
	redacting := onePolicy(t, []string{"ContainerTop"}, func(p *Profile) { p.View.RedactEnv = true })
	plain := onePolicy(t, []string{"ContainerTop"}, nil)
	cases := []struct {
		policy *Policy
		query  string
		want   string
	}{
		{redacting, "", ""},
		{redacting, "ps_args=-ef", ""},
		{redacting, "ps_args=aux", ""},
		{redacting, "ps_args=-o+pid,user,args", ""},
		{redacting, "ps_args=auxe", "ps_args"},
		{redacting, "ps_args=e", "ps_args"},
		{redacting, "ps_args=-aux", "ps_args"},
		{redacting, "ps_args=-o+pid,environ", "ps_args"},
		{redacting, "ps_args=-o", "ps_args"},
		{redacting, "ps_args=-ef&ps_args=auxe", "given 2 times"},
		{plain, "ps_args=auxe", ""},
	}
	for _, c := range cases {
		d := c.policy.Decide(anyone, newRequest("GET", "/v1.41/containers/c/top?"+c.query, ""))
		status := http.StatusForbidden
		if strings.Contains(c.want, "times") {
			status = http.StatusBadRequest
		}
		wantRefusal(t, c.query, d, StepQuery, status, c.want)
	}
}
