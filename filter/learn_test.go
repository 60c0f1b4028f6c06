package filter

import (
	"net/http"
	"strings"
	"testing"
)

// learnPolicy has a profile "reader" for uid 1000 (ContainerList and
// ContainerCreate, no host binds), an entry giving uid 2000 NoProfile,
// and NoProfile for everyone else.
func learnPolicy(t *testing.T, profileLearn, entryLearn Learn) *Policy {
	t.Helper()
	table, err := NewRouteTable()
	if err != nil {
		t.Fatal(err)
	}
	prof := newTestProfile(t, table, "reader", "ContainerList", "ContainerCreate")
	prof.Learn = profileLearn
	clients := []Client{
		{UID: u32(1000), Profile: "reader", Name: "clients[0]", Learn: entryLearn},
		{UID: u32(2000), Profile: NoProfile, Name: "clients[1]"},
	}
	p, err := NewPolicy(table, []*Profile{prof}, clients, NoProfile)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecideLearn(t *testing.T) {
	reader := Caller{Known: true, Peer: Peer{UID: 1000, GID: 1000}}
	denied := Caller{Known: true, Peer: Peer{UID: 2000, GID: 2000}}
	stranger := Caller{Known: true, Peer: Peer{UID: 3000, GID: 3000}}
	bind := `{"Image":"busybox","HostConfig":{"Binds":["/srv/data:/data"]}}`
	type want struct {
		verdict   Verdict
		step      Step
		learn     Learn
		wouldDeny string // the refusals' steps, comma-separated
	}
	tests := []struct {
		name                   string
		profile, entry         Learn
		daemon, daemonUnlisted Learn
		caller                 Caller
		method, path, body     string
		want                   want
	}{
		{name: "enforced: not granted", caller: reader, method: "GET", path: "/images/json",
			want: want{Deny, StepGrant, LearnOff, ""}},
		{name: "profile allow: granted passes, recorded", profile: LearnAllow, caller: reader, method: "GET", path: "/containers/json",
			want: want{Allow, StepAllowed, LearnAllow, ""}},
		{name: "profile allow: not granted is forwarded", profile: LearnAllow, caller: reader, method: "GET", path: "/images/json",
			want: want{Allow, StepLearn, LearnAllow, "grant"}},
		{name: "profile deny: not granted stays denied", profile: LearnDeny, caller: reader, method: "GET", path: "/images/json",
			want: want{Deny, StepGrant, LearnDeny, "grant"}},
		{name: "profile allow: a body rule's refusal is forwarded", profile: LearnAllow, caller: reader, method: "POST", path: "/containers/create", body: bind,
			want: want{Allow, StepLearn, LearnAllow, "body"}},
		{name: "profile deny: a body rule's refusal stays", profile: LearnDeny, caller: reader, method: "POST", path: "/containers/create", body: bind,
			want: want{Deny, StepBody, LearnDeny, "body"}},
		{name: "not granted, and the body refused too: both recorded", profile: LearnAllow, caller: reader, method: "POST", path: "/volumes/create",
			body: `{"DriverOpts":{"type":"none","o":"bind","device":"/etc"}}`, want: want{Allow, StepLearn, LearnAllow, "grant,body"}},
		{name: "a malformed body stays denied", profile: LearnAllow, caller: reader, method: "POST", path: "/containers/create", body: `{"Image":`,
			want: want{Deny, StepBody, LearnAllow, ""}},
		{name: "framing stays denied", profile: LearnAllow, caller: reader, method: "GET", path: "/images/json", body: "x",
			want: want{Deny, StepFraming, LearnAllow, "grant"}},
		{name: "unknown route stays denied", profile: LearnAllow, caller: reader, method: "GET", path: "/nothing/here",
			want: want{Deny, StepRoute, LearnAllow, ""}},
		{name: "entry off beats the profile", profile: LearnAllow, entry: LearnOff, caller: reader, method: "GET", path: "/images/json",
			want: want{Deny, StepGrant, LearnOff, ""}},
		{name: "entry deny beats the profile's allow", profile: LearnAllow, entry: LearnDeny, caller: reader, method: "GET", path: "/images/json",
			want: want{Deny, StepGrant, LearnDeny, "grant"}},
		{name: "daemon allow: listed caller learns", daemon: LearnAllow, caller: reader, method: "GET", path: "/images/json",
			want: want{Allow, StepLearn, LearnAllow, "grant"}},
		{name: "profile off beats the daemon", daemon: LearnAllow, profile: LearnOff, caller: reader, method: "GET", path: "/images/json",
			want: want{Deny, StepGrant, LearnOff, ""}},
		{name: "daemon allow: an entry's none stays denied", daemon: LearnAllow, caller: denied, method: "GET", path: "/containers/json",
			want: want{Deny, StepCaller, LearnOff, ""}},
		{name: "daemon allow: the default none stays denied", daemon: LearnAllow, caller: stranger, method: "GET", path: "/containers/json",
			want: want{Deny, StepCaller, LearnOff, ""}},
		{name: "unlisted allow: the default none is forwarded", daemonUnlisted: LearnAllow, caller: stranger, method: "GET", path: "/containers/json",
			want: want{Allow, StepLearn, LearnAllow, "caller"}},
		{name: "unlisted allow: none is judged by the safe rules", daemonUnlisted: LearnAllow, caller: stranger, method: "POST", path: "/containers/create", body: bind,
			want: want{Allow, StepLearn, LearnAllow, "caller,body"}},
		{name: "unlisted deny: observed, denied", daemonUnlisted: LearnDeny, caller: denied, method: "GET", path: "/containers/json",
			want: want{Deny, StepCaller, LearnDeny, "caller"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := learnPolicy(t, tt.profile, tt.entry).WithLearn(tt.daemon, tt.daemonUnlisted)
			req := newRequest(tt.method, tt.path, tt.body)
			d := settle(t, p, tt.caller, req, []byte(tt.body), plainWorld.fact)
			var steps []string
			for _, r := range d.WouldDeny {
				steps = append(steps, string(r.Step))
			}
			got := want{d.Verdict, d.Step, d.Learn, strings.Join(steps, ",")}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v (reason: %s)", got, tt.want, d.Reason)
			}
			if d.Verdict == Allow && d.Status != http.StatusOK {
				t.Errorf("allowed with status %d", d.Status)
			}
			if d.Verdict == Allow && len(d.WouldDeny) > 0 && !strings.Contains(d.Reason, d.WouldDeny[0].Reason) {
				t.Errorf("reason %q does not say what the policy would refuse", d.Reason)
			}
			if d.Verdict == Allow && tt.body != "" && string(req.Body) != tt.body {
				t.Errorf("forwarded body %q, want the one judged %q", req.Body, tt.body)
			}
		})
	}
}

// A body the rules refuse at the query, before reading it, is still read
// in learn mode: it is forwarded as read.
func TestDecideLearnReadsRefusedBody(t *testing.T) {
	p := onePolicy(t, []string{"ServiceUpdate"}, func(pr *Profile) { pr.Learn = LearnAllow })
	body := `{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`
	req := newRequest("POST", "/services/web/update?version=1&rollback=previous", body)
	d := p.Decide(anyone, req)
	if d.Verdict != Pending || !d.NeedBody {
		t.Fatalf("first round: verdict %d need body %v: %s", d.Verdict, d.NeedBody, d.Reason)
	}
	d = settle(t, p, anyone, req, []byte(body), plainWorld.fact)
	if d.Verdict != Allow || string(req.Body) != body || d.WouldDenyText() == "" {
		t.Fatalf("verdict %d, body %q, would deny %q", d.Verdict, req.Body, d.WouldDenyText())
	}
}

func TestParseLearn(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Learn
		ok   bool
	}{{"allow", LearnAllow, true}, {"deny", LearnDeny, true}, {"off", LearnOff, true}, {"yes", LearnInherit, false}, {"", LearnInherit, false}} {
		got, err := ParseLearn(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseLearn(%q) = %v, %v", tt.in, got, err)
		}
	}
}
