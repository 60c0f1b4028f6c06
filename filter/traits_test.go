package filter

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// allPolicy grants every operation of the table, with the zero (safe)
// rules.
func allPolicy(t *testing.T) *Policy {
	t.Helper()
	table := newTable(t)
	var ops []string
	for _, r := range table.Routes() {
		ops = append(ops, r.Operation)
	}
	policy, err := NewPolicy(table, []*Profile{newTestProfile(t, table, "all", ops...)}, nil, "all")
	if err != nil {
		t.Fatal(err)
	}
	return policy
}

// samplePath fills a route's template with parameters.
func samplePath(r *Route) string {
	segs := splitPath(r.Template)
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			segs[i] = "x"
		}
	}
	return "/v1.41/" + strings.Join(segs, "/")
}

// TestJudgedBodiesHaveJudges: every operation whose body is read and
// judged asks for it, and has a judge for it; no other operation asks.
func TestJudgedBodiesHaveJudges(t *testing.T) {
	policy := allPolicy(t)
	for _, r := range policy.Table().Routes() {
		req := newRequest(r.Method, samplePath(&r), "{}")
		if r.Body == BodyNone {
			req = newRequest(r.Method, samplePath(&r), "")
		}
		first := policy.Decide(anyone, newRequest(r.Method, samplePath(&r), ""))
		if first.Route == nil || first.Route.Operation != r.Operation {
			t.Errorf("%s: %s matches %s", r.Operation, samplePath(&r), first.Operation())
			continue
		}
		if first.NeedBody != r.Body.Judged() {
			t.Errorf("%s (body %s): NeedBody %v", r.Operation, r.Body, first.NeedBody)
		}
		d := settle(t, policy, anyone, req, []byte("{}"), plainWorld.fact)
		if strings.Contains(d.Reason, "has no judge") {
			t.Errorf("%s: %s", r.Operation, d.Reason)
		}
		if d.Verdict == Pending {
			t.Errorf("%s: still pending after settling", r.Operation)
		}
	}
}

// TestTargetsAreJudged: every operation that reaches into a container or
// an exec looks it up before it is allowed, and forwards to the full id
// the engine gave; a target that does not exist is a 404.
func TestTargetsAreJudged(t *testing.T) {
	policy := allPolicy(t)
	for _, r := range policy.Table().Routes() {
		if r.Target == TargetNone {
			continue
		}
		target := samplePath(&r)
		if r.Target == TargetContainerQuery {
			target += "?container=x"
		}
		body := ""
		if r.Body.Judged() {
			body = "{}"
		}
		d := settle(t, policy, anyone, newRequest(r.Method, target, body), []byte(body), plainWorld.fact)
		if d.Verdict != Deny || d.Status != http.StatusNotFound || d.Step != StepTarget {
			t.Errorf("%s on a missing target: verdict %d at %s (%d): %s", r.Operation, d.Verdict, d.Step, d.Status, d.Reason)
		}
	}
}

// TestRouteQueryMatchesSpec: every query parameter the Engine API
// reference names for an operation is listed in its route, so that none
// escapes judging by being unknown, and an operation takes a body in the
// table exactly when the reference gives it one.
func TestRouteQueryMatchesSpec(t *testing.T) {
	spec := loadSpec(t)
	table := newTable(t)
	var problems []string
	for _, s := range spec.routes {
		r := table.Operation(s.op)
		if r == nil {
			continue // TestRouteTableMatchesEngineSpec reports it
		}
		for _, name := range s.query {
			if _, ok := r.Judges(name); !ok {
				problems = append(problems, fmt.Sprintf("%s: query parameter %q of the reference is not in the route", s.op, name))
			}
		}
		switch {
		case s.body && r.Body == BodyNone:
			problems = append(problems, s.op+": the reference gives it a body, the route takes none")
		case !s.body && r.Body != BodyNone:
			problems = append(problems, fmt.Sprintf("%s: the reference gives it no body, the route takes one (%s)", s.op, r.Body))
		}
	}
	slices.Sort(problems)
	if len(problems) > 0 {
		t.Errorf("route table and Engine API reference disagree on inputs (%d):\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
}

// envPathsIn lists where a schema holds a property named Env, as dotted
// paths of property names from each answered object (each entry, for a
// list), following $ref into the definitions.
func envPathsIn(schema any, defs map[string]any, prefix []string, seen []string, out map[string]bool) {
	m, ok := schema.(map[string]any)
	if !ok {
		return
	}
	if ref, ok := m["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/definitions/")
		if slices.Contains(seen, name) {
			return // a recursive definition: its paths are already found
		}
		envPathsIn(defs[name], defs, prefix, append(seen, name), out)
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for name, sub := range props {
			p := append(slices.Clone(prefix), name)
			if name == "Env" {
				out[strings.Join(p, ".")] = true
			}
			envPathsIn(sub, defs, p, seen, out)
		}
	}
	envPathsIn(m["items"], defs, prefix, seen, out)
	envPathsIn(m["additionalProperties"], defs, append(slices.Clone(prefix), "*"), seen, out)
	for _, k := range []string{"allOf", "oneOf", "anyOf"} {
		list, _ := m[k].([]any)
		for _, sub := range list {
			envPathsIn(sub, defs, prefix, seen, out)
		}
	}
}

// envWithoutView are answers that show an Env the view does not redact,
// each with why: none.
var envWithoutView = map[string]string{}

// TestEnvAnswersHaveViews: an operation whose answer, as the Engine API
// reference describes it, holds an environment list has an answer kind
// whose view redacts it there; and every answer kind that redacts an
// environment is some operation's.
func TestEnvAnswersHaveViews(t *testing.T) {
	spec := loadSpec(t)
	table := newTable(t)
	var problems []string
	found := 0
	for _, s := range spec.routes {
		r := table.Operation(s.op)
		if r == nil || s.answer == nil {
			continue
		}
		paths := make(map[string]bool)
		envPathsIn(s.answer, spec.definitions, nil, nil, paths)
		if len(paths) == 0 {
			if len(envPaths(r.Answer)) > 0 {
				problems = append(problems, s.op+": its answer kind redacts an Env the reference does not show")
			}
			continue
		}
		found++
		if why, ok := envWithoutView[s.op]; ok {
			t.Logf("%s shows %v unredacted: %s", s.op, slices.Sorted(maps.Keys(paths)), why)
			continue
		}
		redacted := make(map[string]bool)
		for _, p := range envPaths(r.Answer) {
			redacted[strings.Join(p, ".")] = true
		}
		for _, p := range slices.Sorted(maps.Keys(paths)) {
			if !redacted[p] {
				problems = append(problems, fmt.Sprintf("%s: the answer shows %s, which its view (answer kind %d) does not redact", s.op, p, r.Answer))
			}
		}
	}
	if found < 6 {
		problems = append(problems, fmt.Sprintf("only %d operations of the reference show an Env: the schema walk is broken", found))
	}
	used := make(map[AnswerKind]bool)
	for _, r := range table.Routes() {
		used[r.Answer] = true
	}
	for k := range AnswerKind(64) {
		if len(envPaths(k)) > 0 && !used[k] {
			problems = append(problems, fmt.Sprintf("answer kind %d redacts an Env, and no operation answers with it", k))
		}
	}
	slices.Sort(problems)
	if len(problems) > 0 {
		t.Errorf("answers and views disagree (%d):\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
}

// TestExecStart: starting an exec judges the exec as its inspect shows
// it, then the container it runs in.
func TestExecStart(t *testing.T) {
	policy := onePolicy(t, []string{"ExecStart"}, func(p *Profile) {
		p.Exec = ExecRules{NonRootUser: true, Commands: []string{"sh"}}
	})
	w := &world{
		containers: map[string]*container.HostConfig{
			"nnp":        {SecurityOpt: []string{"no-new-privileges"}},
			"setid":      {},
			"privileged": {Privileged: true, SecurityOpt: []string{"no-new-privileges"}},
		},
		execs: map[string]ExecFact{
			"ok":      {ContainerID: fakeID("nnp"), User: "1000:1000", Command: []string{"sh"}},
			"root":    {ContainerID: fakeID("nnp"), User: "", Command: []string{"sh"}},
			"priv":    {ContainerID: fakeID("nnp"), Privileged: true, User: "1000:1000", Command: []string{"sh"}},
			"cmd":     {ContainerID: fakeID("nnp"), User: "1000:1000", Command: []string{"rm", "-rf", "/"}},
			"setid":   {ContainerID: fakeID("setid"), User: "1000:1000", Command: []string{"sh"}},
			"privctr": {ContainerID: fakeID("privileged"), User: "1000:1000", Command: []string{"sh"}},
			"orphan":  {ContainerID: fakeID("gone"), User: "1000:1000", Command: []string{"sh"}},
		},
	}
	cases := []struct {
		exec, want string
		status     int
	}{
		{"ok", "", 0},
		{"root", "non-root", http.StatusForbidden},
		{"priv", "privileged", http.StatusForbidden},
		{"cmd", "not in", http.StatusForbidden},
		{"setid", "no-new-privileges", http.StatusForbidden},
		{"privctr", "may not use", http.StatusForbidden},
		{"orphan", "No such container", http.StatusNotFound},
		{"missing", "No such exec instance: missing", http.StatusNotFound},
	}
	for _, c := range cases {
		req := newRequest("POST", "/v1.41/exec/"+c.exec+"/start", `{"Detach":false,"Tty":false}`)
		d := settle(t, policy, anyone, req, nil, w.fact)
		wantRefusal(t, c.exec, d, StepTarget, c.status, c.want)
	}
}

// TestCommitTarget: ImageCommit judges the container its query names
// and forwards the query naming it by its full id.
func TestCommitTarget(t *testing.T) {
	policy := onePolicy(t, []string{"ImageCommit"}, nil)
	w := &world{containers: map[string]*container.HostConfig{
		"web":  {},
		"priv": {Privileged: true},
	}}
	d := settle(t, policy, anyone, newRequest("POST", "/v1.41/commit?container=web&repo=r", ""), nil, w.fact)
	if !d.Allowed() || d.RawQuery != "container="+fakeID("web")+"&repo=r" {
		t.Errorf("commit of web: allowed %v, query %q (%s)", d.Allowed(), d.RawQuery, d.Reason)
	}
	d = settle(t, policy, anyone, newRequest("POST", "/v1.41/commit?container=priv", ""), nil, w.fact)
	wantRefusal(t, "commit of a privileged container", d, StepTarget, http.StatusForbidden, "may not use")
	d = settle(t, policy, anyone, newRequest("POST", "/v1.41/commit?container=web&container=priv", ""), nil, w.fact)
	wantRefusal(t, "commit naming two containers", d, StepQuery, http.StatusBadRequest, "given 2 times")
}
