package filter

import (
	"fmt"
	"testing"
)

// manyClients is a policy whose caller is the last of n client entries,
// the worst case for the walk the cache saves.
func manyClients(t testing.TB, n int) (*Policy, Caller) {
	t.Helper()
	table := newTable(t)
	profiles := []*Profile{newTestProfile(t, table, "reader", "containers:read", "SystemPing"),
		newTestProfile(t, table, "other", "SystemPing")}
	clients := make([]Client, n)
	for i := range clients {
		clients[i] = Client{Name: fmt.Sprintf("clients[%d]", i), UID: u32(uint32(10000 + i)), Profile: "other"}
	}
	clients[n-1].Profile = "reader"
	p, err := NewPolicy(table, profiles, clients, NoProfile)
	if err != nil {
		t.Fatal(err)
	}
	return p, Caller{Known: true, Peer: Peer{UID: uint32(10000 + n - 1), GID: 1}}
}

func TestDecideCached(t *testing.T) {
	p, caller := manyClients(t, 3)
	reloaded, _ := manyClients(t, 3)
	var cache ProfileCache
	tests := []struct {
		name   string
		policy *Policy
		caller Caller
		path   string
		want   Verdict
		rule   string
	}{
		{"first request fills the cache", p, caller, "/v1.41/containers/json", Allow, "clients[2]"},
		{"later request uses it", p, caller, "/_ping", Allow, "clients[2]"},
		{"what the profile denies stays denied", p, caller, "/v1.41/info", Deny, "clients[2]"},
		{"a reloaded policy asks again", reloaded, caller, "/v1.41/containers/json", Allow, "clients[2]"},
		{"unknown credentials bypass it", p, Caller{}, "/_ping", Deny, "listener"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Request{Method: "GET", EscapedPath: tt.path}
			got := tt.policy.DecideCached(tt.caller, &cache, r)
			want := tt.policy.Decide(tt.caller, &Request{Method: "GET", EscapedPath: tt.path})
			if got.Verdict != tt.want || got.Rule != tt.rule || got.Verdict != want.Verdict || got.Reason != want.Reason || got.Path != want.Path {
				t.Errorf("DecideCached = %v %q %q, want %v %q (Decide: %v %q)", got.Verdict, got.Rule, got.Reason, tt.want, tt.rule, want.Verdict, want.Reason)
			}
		})
	}
}

// The decision for a request on an open connection costs the same
// whatever the number of client entries, and allocates nothing.
func TestDecideCachedAllocs(t *testing.T) {
	p, caller := manyClients(t, 1000)
	var cache ProfileCache
	for _, path := range []string{"/_ping", "/v1.41/containers/json", "/v1.41/containers/abc/json"} {
		r := &Request{Method: "GET", EscapedPath: path, RawQuery: "all=1"}
		p.DecideCached(caller, &cache, r)
		if n := testing.AllocsPerRun(100, func() { p.DecideCached(caller, &cache, r) }); n != 0 {
			t.Errorf("GET %s: %.0f allocations per decision, want 0", path, n)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{1, 1000} {
		p, caller := manyClients(b, n)
		b.Run(fmt.Sprintf("clients=%d/uncached", n), func(b *testing.B) {
			r := &Request{Method: "GET", EscapedPath: "/v1.41/containers/json", RawQuery: "all=1"}
			b.ReportAllocs()
			for b.Loop() {
				p.Decide(caller, r)
			}
		})
		b.Run(fmt.Sprintf("clients=%d/connection", n), func(b *testing.B) {
			r := &Request{Method: "GET", EscapedPath: "/v1.41/containers/json", RawQuery: "all=1"}
			var cache ProfileCache
			b.ReportAllocs()
			for b.Loop() {
				p.DecideCached(caller, &cache, r)
			}
		})
	}
}
