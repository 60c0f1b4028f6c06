package filter

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Request is what the filter judges of one HTTP request: what the engine
// would read from it, and what the decision asked to be found out.
type Request struct {
	Method      string
	EscapedPath string
	RawQuery    string
	// ContentTypes are the request's Content-Type header values.
	ContentTypes []string
	// ContentLength is 0 for no body, -1 for a body of unknown length.
	ContentLength int64
	// Upgrade is the request's Upgrade header, if any.
	Upgrade []string

	// Body is the whole body, once a decision asked for it (NeedBody).
	Body []byte
	// BodyTooLarge says the body was longer than the filter reads.
	BodyTooLarge bool
	// BodyLimit is the most the filter reads, for the message.
	BodyLimit int64
	// Facts answer the lookups decisions asked for.
	Facts Facts

	// segs holds the path's segments, so that deciding needs no
	// allocation of its own for them.
	segs [12]string
}

// Verdict is a decision's outcome.
type Verdict uint8

const (
	// Deny: answer Status with Reason; nothing reaches the engine.
	Deny Verdict = iota
	// Allow: forward to Path?RawQuery.
	Allow
	// Pending: read the body (NeedBody) or answer the Lookups, then
	// decide again with the request so completed.
	Pending
)

// Step names the stage of judging that settled a decision, for explain
// and the audit log.
type Step string

const (
	StepCaller  Step = "caller"  // who is calling, and which profile that gives
	StepPath    Step = "path"    // the path is not canonical
	StepRoute   Step = "route"   // no such operation
	StepGrant   Step = "grant"   // the profile does not allow the operation
	StepFraming Step = "framing" // the request's body or content type
	StepQuery   Step = "query"   // a query parameter the engine reads
	StepBody    Step = "body"    // the body's rules
	StepTarget  Step = "target"  // the existing container or exec reached into
	StepAllowed Step = "allowed"
)

// Decision is the outcome for one request. It carries the route and the
// profile themselves, so that what is done with the answer (the view)
// follows the policy that decided, even if a reload replaced it since.
type Decision struct {
	Verdict Verdict
	Step    Step
	Route   *Route   // nil for a path or method the table does not name
	Profile *Profile // nil for NoProfile
	// Rule is the client entry that chose the profile, or "default".
	Rule   string
	Reason string
	// Status is the HTTP status to answer a denied request with.
	Status int

	// NeedBody and Lookups say what a pending decision waits for.
	NeedBody bool
	Lookups  []Lookup

	// Path and RawQuery are what an allowed request is forwarded to:
	// the canonical path that was judged, with a target named by the
	// full id the engine gave for it.
	Path     string
	RawQuery string
	// Version is the API version of the path, or "".
	Version string
	// Target is the canonical path as the client sent it.
	Target Target
	// Wait is how long the request asks the engine to take before it
	// answers (a stop's t), on top of the usual; -1 for as long as it
	// takes.
	Wait time.Duration

	// Learn is the caller's learn mode (LearnOff when enforced), and
	// WouldDeny what the policy in force would have refused, in the
	// order judging met it: set only in learn mode.
	Learn     Learn
	WouldDeny []Refusal
}

// Listed reports a caller that a client entry of the policy names with a
// profile: the admin's own, for which limits keep a reserve.
func (d *Decision) Listed() bool {
	return d.Profile != nil && d.Rule != "default" && d.Rule != "listener"
}

// Allowed reports whether the request may be forwarded.
func (d *Decision) Allowed() bool { return d.Verdict == Allow }

// Operation is the route's operation id, or "unknown route".
func (d *Decision) Operation() string {
	if d.Route == nil {
		return "unknown route"
	}
	return d.Route.Operation
}

// ProfileName is the chosen profile's name, or NoProfile.
func (d *Decision) ProfileName() string {
	if d.Profile == nil {
		return NoProfile
	}
	return d.Profile.Name
}

func (d *Decision) deny(step Step, status int, reason string) Decision {
	d.Verdict, d.Step, d.Status, d.Reason = Deny, step, status, reason
	return *d
}

// refuse denies for an error of a rule: 400 for a request the filter
// cannot read the way the engine would, 404 for a target that does not
// exist, 502 for a lookup that failed, 403 for what the rules refuse.
func (d *Decision) refuse(step Step, err error) Decision {
	switch {
	case errors.Is(err, ErrBody):
		return d.deny(step, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrMissing):
		return d.deny(step, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrLookup) && errors.Is(err, context.DeadlineExceeded):
		return d.deny(step, http.StatusGatewayTimeout, err.Error())
	case errors.Is(err, ErrLookup):
		return d.deny(step, http.StatusBadGateway, err.Error())
	}
	return d.deny(step, http.StatusForbidden, fmt.Sprintf("profile %s: %v", d.ProfileName(), err))
}

// Decide judges one request for a caller. It is pure: whatever it needs
// to know beyond the request it asks for (the body, lookups) in a Pending
// decision, and the same request, completed, is decided again. serve and
// explain both run exactly this. A learning caller's denial is then
// decided by its learn mode (see Learn).
func (p *Policy) Decide(c Caller, r *Request) Decision { return p.DecideCached(c, nil, r) }

// DecideCached is Decide for a caller whose profile cache remembers,
// across the requests of one connection, the profile this policy gives
// it: the caller's peer must be the same for every request that shares
// cache.
func (p *Policy) DecideCached(c Caller, cache *ProfileCache, r *Request) Decision {
	d := p.decide(c, cache, r, false)
	if d.Learn != LearnOff && d.Verdict == Deny && learnable(&d) {
		return p.learn(c, r, d)
	}
	return d
}

// decide judges a request as the policy in force does; ignoreGrant
// judges it as if the profile granted the operation (a caller without a
// profile is judged by the safe rules), for learn mode.
func (p *Policy) decide(c Caller, cache *ProfileCache, r *Request, ignoreGrant bool) Decision {
	d := Decision{Rule: "listener", Status: http.StatusForbidden}
	if !c.Known {
		return d.deny(StepCaller, http.StatusForbidden, "peer credentials unknown")
	}
	var client *Client
	d.Profile, d.Rule, client = cache.match(p, c)
	d.Learn = p.learnFor(client, d.Profile)
	if ignoreGrant && d.Profile == nil {
		d.Profile = &Profile{Name: NoProfile}
	}
	target, err := parsePath(r.EscapedPath, r.segs[:0])
	if err != nil {
		return d.deny(StepPath, http.StatusBadRequest, err.Error())
	}
	d.Version, d.Target = target.Version, target
	d.Path, d.RawQuery = target.Path, r.RawQuery
	d.Route = p.table.Match(r.Method, target.Segments)
	switch {
	case d.Route == nil:
		return d.deny(StepRoute, http.StatusForbidden, "the Docker API has no such operation")
	case d.Profile == nil:
		return d.deny(StepCaller, http.StatusForbidden, fmt.Sprintf("%s gives no profile (%s)", d.Rule, NoProfile))
	case !ignoreGrant && !d.Profile.Allows(d.Route.Operation):
		return d.deny(StepGrant, http.StatusForbidden, fmt.Sprintf("profile %s (%s) does not allow %s", d.Profile.Name, d.Rule, d.Route.Operation))
	}
	if reason := framing(d.Route, r); reason != "" {
		return d.deny(StepFraming, http.StatusBadRequest, reason)
	}
	j := &judging{facts: r.Facts}
	if d.Route.PathRef {
		if err := d.Profile.judgeParam(j, QueryRegistryRef, "the reference", d.Route.Param(target.Segments)); err != nil {
			return d.refuse(StepQuery, err)
		}
	}
	query, err := d.judgeQuery(j, r.RawQuery)
	if err != nil {
		return d.refuse(StepQuery, err)
	}
	if d.Route.Body.Judged() {
		switch {
		case r.BodyTooLarge:
			return d.deny(StepBody, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", r.BodyLimit))
		case r.Body == nil:
			d.Verdict, d.Step, d.NeedBody = Pending, StepBody, true
			return d
		}
		if err := d.judgeBody(j, r.Body); err != nil {
			return d.refuse(StepBody, err)
		}
	}
	if len(j.missing) > 0 {
		return d.pending(StepBody, j)
	}
	if d.Route.Target != TargetNone {
		if err := d.judgeTarget(j, target, query); err != nil {
			return d.refuse(StepTarget, err)
		}
		if len(j.missing) > 0 {
			return d.pending(StepTarget, j)
		}
	}
	d.Verdict, d.Step, d.Status = Allow, StepAllowed, http.StatusOK
	// The rule that chose the profile says why; building a sentence for
	// every allowed request would cost an allocation each.
	d.Reason = d.Rule
	return d
}

func (d *Decision) pending(step Step, j *judging) Decision {
	d.Verdict, d.Step, d.Lookups = Pending, step, j.missing
	return *d
}

// framing refuses what the engine would read from a channel the filter
// does not judge: a body on an operation that takes none, and form
// bodies, which the engine's FormValue prefers to the URL's query.
func framing(route *Route, r *Request) string {
	if route.Body == BodyNone && r.ContentLength != 0 {
		return route.Operation + " takes no request body, and this request carries one"
	}
	if len(r.Upgrade) > 0 && route.Conn != ConnTunnel {
		return "Upgrade is refused: " + route.Operation + " does not leave HTTP"
	}
	switch len(r.ContentTypes) {
	case 0:
		return ""
	case 1:
	default:
		return "more than one Content-Type header"
	}
	ct := r.ContentTypes[0]
	if strings.TrimSpace(ct) == "" {
		return ""
	}
	media, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Sprintf("Content-Type %q does not parse: %v", ct, err)
	}
	switch media {
	case "application/x-www-form-urlencoded", "multipart/form-data", "multipart/mixed":
		return "form bodies are refused: the engine would read them as query parameters"
	}
	return ""
}

// judgeQuery parses the query as the engine does and judges every
// parameter the operation reads that a rule governs. It returns the
// parsed query for a target named there.
func (d *Decision) judgeQuery(j *judging, rawQuery string) (url.Values, error) {
	judged := false
	for _, prm := range d.Route.Query {
		judged = judged || prm.Judge != QueryFree
	}
	if !judged {
		return nil, nil
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: query: %w", ErrBody, err)
	}
	for _, prm := range d.Route.Query {
		if prm.Judge == QueryFree {
			continue
		}
		values := q[prm.Name]
		if len(values) > 1 {
			return nil, fmt.Errorf("%w: query parameter %s given %d times", ErrBody, prm.Name, len(values))
		}
		value := ""
		if len(values) == 1 {
			value = values[0]
		}
		if prm.Judge == QueryStopWait {
			d.Wait = stopWait(value)
			continue
		}
		if err := d.Profile.judgeParam(j, prm.Judge, prm.Name, value); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// stopWait reads a stop's t: seconds the engine waits before it kills,
// -1 for no limit. One it cannot read changes nothing: the engine refuses
// it.
func stopWait(t string) time.Duration {
	n, err := strconv.Atoi(t)
	switch {
	case err != nil:
		return 0
	case n < 0:
		return -1
	}
	return time.Duration(n) * time.Second
}

// judgeTarget inspects what the operation reaches into and judges it
// against the profile's rules: a profile may not exec into, copy from,
// commit, start or attach to a container it could not have created. The
// request then names the container (or exec) by the full id the engine
// gave, so that a rename or a look-alike in between cannot swap it.
func (d *Decision) judgeTarget(j *judging, target Target, query url.Values) error {
	prof := d.Profile
	switch d.Route.Target {
	case TargetExec:
		id := target.Segments[1]
		f, ok, err := j.fact(LookupExec, id)
		if err != nil || !ok {
			return missingOr(err, f, "No such exec instance: "+id)
		}
		if err := prof.Exec.judgeInspected(f.Exec); err != nil {
			return err
		}
		return d.judgeContainer(j, f.Exec.ContainerID, true)
	case TargetContainerQuery:
		name := query.Get("container")
		if name == "" {
			return nil // no container named: the engine refuses it
		}
		if err := d.judgeContainer(j, name, false); err != nil || len(j.missing) > 0 {
			return err
		}
		f, _, _ := j.fact(LookupContainer, name)
		query.Set("container", f.Container.ID)
		d.RawQuery = query.Encode()
		return nil
	}
	name := target.Segments[1]
	if err := d.judgeContainer(j, name, d.Route.Body == BodyExecCreate); err != nil || len(j.missing) > 0 {
		return err
	}
	f, _, _ := j.fact(LookupContainer, name)
	d.Path = target.WithSegment(1, f.Container.ID).Path
	return nil
}

// judgeContainer judges an existing container the request reaches into.
// An exec into it also needs what makes the exec rules hold there.
func (d *Decision) judgeContainer(j *judging, ref string, forExec bool) error {
	f, ok, err := j.fact(LookupContainer, ref)
	if err != nil || !ok {
		return missingOr(err, f, "No such container: "+ref)
	}
	if !isContainerID(f.Container.ID) {
		return fmt.Errorf("%w: the engine's inspect of %s gave no container id", ErrLookup, ref)
	}
	hc := f.Container.HostConfig
	if j.restart != nil && hc != nil {
		updated := *hc
		updated.RestartPolicy = *j.restart
		hc = &updated
	}
	if err := d.Profile.Create.JudgeExisting(hc, j); err != nil {
		return err
	}
	if forExec {
		return d.Profile.Exec.judgeContainer(hc)
	}
	return nil
}

// missingOr is the error for a fact that is not there: the lookup's own
// error, a missing object, or none while the fact is still to come.
func missingOr(err error, f Fact, missing string) error {
	switch {
	case err != nil:
		return err
	case f.Missing:
		return missingError(missing)
	}
	return nil
}

// isContainerID accepts the engine's full ids: 64 lower-case hex digits.
func isContainerID(id string) bool {
	return len(id) == 64 && strings.Trim(id, "0123456789abcdef") == ""
}
