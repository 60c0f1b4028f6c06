package filter

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// settleRounds is as many rounds as proxy.Engine.Settle allows.
const settleRounds = 6

// settle decides a request the way proxy.Engine.Settle does: it hands a
// pending decision the body it asks for and answers its lookups with
// facts, then decides again, until the decision allows or denies.
func settle(t testing.TB, policy *Policy, c Caller, req *Request, body []byte, facts func(Lookup) Fact) Decision {
	t.Helper()
	if body == nil {
		// A body read whole is never nil, even when empty.
		body = []byte{}
	}
	d := policy.Decide(c, req)
	for round := 0; d.Verdict == Pending; round++ {
		if round == settleRounds {
			d.Verdict, d.Status, d.Reason = Deny, http.StatusBadGateway, "the decision needed more lookups than the filter makes"
			return d
		}
		if !d.NeedBody && len(d.Lookups) == 0 {
			t.Fatalf("%s %s: pending at step %s asking for nothing", req.Method, req.EscapedPath, d.Step)
		}
		if d.NeedBody {
			if req.Body != nil {
				t.Fatalf("%s %s: asks for the body again", req.Method, req.EscapedPath)
			}
			req.Body = body
			req.BodyTooLarge = req.BodyLimit > 0 && int64(len(body)) > req.BodyLimit
		}
		if req.Facts == nil {
			req.Facts = make(Facts)
		}
		for _, l := range d.Lookups {
			if _, done := req.Facts[l]; done {
				t.Fatalf("%s %s: asks again for %s, already answered", req.Method, req.EscapedPath, l)
			}
			req.Facts[l] = facts(l)
		}
		d = policy.Decide(c, req)
	}
	return d
}

// anyone is a caller with known credentials.
var anyone = Caller{Known: true}

// newRequest is a request as a client sends it: a JSON body, when there
// is one, and the query after '?'.
func newRequest(method, target, body string) *Request {
	p, q, _ := strings.Cut(target, "?")
	r := &Request{Method: method, EscapedPath: p, RawQuery: q, ContentLength: int64(len(body))}
	if body != "" {
		r.ContentTypes = []string{"application/json"}
	}
	return r
}

// world is a fake engine and host that answers lookups: host paths
// resolve through links (a symbolic link's path to its target), and the
// engine knows the containers, execs, networks and volumes named here.
type world struct {
	links      map[string]string
	containers map[string]*container.HostConfig // by name
	execs      map[string]ExecFact              // by id
	networks   map[string]NetworkFact           // by name or id
	volumes    map[string]VolumeFact            // by name
	secrets    map[string]SwarmObjectFact       // by id or name, as the engine's inspect finds them
	configs    map[string]SwarmObjectFact
	cgroup     string // the engine's cgroup version; "2" when empty
}

// fakeID is the full id the fake engine gives a container named name.
func fakeID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

func (w *world) fact(l Lookup) Fact {
	switch l.Kind {
	case LookupHostPath:
		return Fact{Path: w.resolve(l.Ref)}
	case LookupContainer:
		for name, hc := range w.containers {
			if l.Ref == name || l.Ref == fakeID(name) {
				return Fact{Container: &ContainerFact{ID: fakeID(name), HostConfig: hc}}
			}
		}
	case LookupExec:
		if e, ok := w.execs[l.Ref]; ok {
			return Fact{Exec: &e}
		}
	case LookupNetwork:
		if n, ok := w.networks[l.Ref]; ok {
			return Fact{Network: &n}
		}
	case LookupVolume:
		if v, ok := w.volumes[l.Ref]; ok {
			return Fact{Volume: &v}
		}
	case LookupSecret, LookupConfig:
		objects := w.secrets
		if l.Kind == LookupConfig {
			objects = w.configs
		}
		if o, ok := objects[l.Ref]; ok {
			return Fact{Swarm: &o}
		}
	case LookupEngine:
		v := w.cgroup
		if v == "" {
			v = "2"
		}
		return Fact{Engine: &EngineFact{CgroupVersion: v}}
	}
	return Fact{Missing: true}
}

// resolve follows the links a path passes through, longest first, until
// none applies.
func (w *world) resolve(p string) string {
	for range 16 {
		best := ""
		for link := range w.links {
			if (p == link || strings.HasPrefix(p, link+"/")) && len(link) > len(best) {
				best = link
			}
		}
		if best == "" {
			return p
		}
		p = w.links[best] + strings.TrimPrefix(p, best)
	}
	return p
}

// plainWorld resolves every host path to itself, knows no objects, and
// runs cgroup v2.
var plainWorld = &world{}
