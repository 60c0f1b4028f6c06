package filter

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Learn is a learn mode: how a request the policy in force would deny is
// decided while the admin finds out what a caller needs. Every decision
// of a learning caller is also recorded (by the daemon, not here).
type Learn uint8

const (
	// LearnInherit leaves the choice to the next level: a client entry's
	// to its profile's, a profile's to the daemon's.
	LearnInherit Learn = iota
	// LearnOff enforces the policy, even under a daemon-wide learn mode.
	LearnOff
	// LearnAllow forwards what the policy would deny: a rollout that
	// breaks no one.
	LearnAllow
	// LearnDeny denies it as in force: observation only.
	LearnDeny
)

func (l Learn) String() string {
	switch l {
	case LearnInherit:
		return ""
	case LearnOff:
		return "off"
	case LearnAllow:
		return "allow"
	case LearnDeny:
		return "deny"
	}
	return fmt.Sprintf("learn(%d)", uint8(l))
}

// ParseLearn reads "allow", "deny" or "off".
func ParseLearn(s string) (Learn, error) {
	switch s {
	case "allow":
		return LearnAllow, nil
	case "deny":
		return LearnDeny, nil
	case "off":
		return LearnOff, nil
	}
	return LearnInherit, fmt.Errorf("learn mode %q: use allow, deny or off", s)
}

// StepLearn settles a request the policy in force would deny and the
// learn mode's fallback allows.
const StepLearn Step = "learn"

// Refusal is what the policy in force would have answered.
type Refusal struct {
	Step   Step
	Status int
	Reason string
}

func (r Refusal) String() string { return string(r.Step) + ": " + r.Reason }

// Learning reports a decision made in learn mode, which the daemon
// records.
func (d *Decision) Learning() bool { return d.Learn == LearnAllow || d.Learn == LearnDeny }

// WouldDenyText joins the refusals of the policy in force, for the audit
// record; "" when it would allow.
func (d *Decision) WouldDenyText() string {
	parts := make([]string, len(d.WouldDeny))
	for i, r := range d.WouldDeny {
		parts[i] = r.String()
	}
	return strings.Join(parts, "; then ")
}

// WithLearn returns the policy with daemon-wide learn modes: listed for
// the callers that have a profile and set none of their own, unlisted
// for those that have none (NoProfile). LearnInherit and LearnOff leave
// them enforced.
func (p *Policy) WithLearn(listed, unlisted Learn) *Policy {
	q := *p
	q.learnListed, q.learnUnlisted = listed, unlisted
	return &q
}

// LearnModes returns the daemon-wide learn modes WithLearn set.
func (p *Policy) LearnModes() (listed, unlisted Learn) { return p.learnListed, p.learnUnlisted }

// learnFor resolves the learn mode of a caller: its client entry's, else
// its profile's, else the daemon's. A caller without a profile learns
// only when its entry or the daemon's unlisted mode says so.
func (p *Policy) learnFor(c *Client, prof *Profile) Learn {
	mode := LearnInherit
	if c != nil {
		mode = c.Learn
	}
	if prof == nil {
		if mode == LearnInherit {
			mode = p.learnUnlisted
		}
	} else {
		if mode == LearnInherit {
			mode = prof.Learn
		}
		if mode == LearnInherit {
			mode = p.learnListed
		}
	}
	if mode == LearnInherit {
		return LearnOff
	}
	return mode
}

// learnable reports a denial that a learn mode decides: a refusal of the
// policy (403) at the caller, grant or rule steps. Requests the filter
// cannot judge the way the engine reads them (400, 413), failed lookups
// and missing targets stay denied.
func learnable(d *Decision) bool {
	if d.Status != http.StatusForbidden {
		return false
	}
	switch d.Step {
	case StepCaller:
		return d.Profile == nil
	case StepGrant, StepQuery, StepBody, StepTarget:
		return true
	}
	return false
}

// learn decides a request of a learning caller that the policy in force
// denies. With fallback allow, the rest of the request is still judged
// as in force, the grant aside, so that what a body rule would refuse is
// recorded too and a malformed request stays denied.
func (p *Policy) learn(c Caller, r *Request, d Decision) Decision {
	refusal := Refusal{d.Step, d.Status, d.Reason}
	if d.Learn == LearnDeny {
		d.WouldDeny = []Refusal{refusal}
		return d
	}
	if d.Step == StepCaller || d.Step == StepGrant {
		e := p.decide(c, nil, r, true)
		e.WouldDeny = []Refusal{refusal}
		if e.Verdict != Deny || !learnable(&e) || e.Step == StepCaller || e.Step == StepGrant {
			if e.Verdict == Allow {
				e.Step, e.Reason = StepLearn, "learn mode allows what the policy would deny: "+e.WouldDenyText()
			}
			return e
		}
		e.WouldDeny = append(e.WouldDeny, Refusal{e.Step, e.Status, e.Reason})
		d = e
	} else {
		d.WouldDeny = []Refusal{refusal}
	}
	// A body refused before it was read is read now: it is forwarded as
	// the bytes the filter holds, and its facts are recorded.
	if d.Route.Body.Judged() && r.Body == nil && !r.BodyTooLarge && r.ContentLength != 0 {
		d.Verdict, d.NeedBody = Pending, true
		return d
	}
	// Read past a refusal of its query, the body is judged as in force:
	// one the filter cannot read the way the engine does stays denied,
	// and what its rules refuse is recorded.
	if d.Step == StepQuery && d.Route.Body.Judged() && r.Body != nil {
		j := &judging{facts: r.Facts}
		err := d.judgeBody(j, r.Body)
		switch {
		case err != nil && !errors.Is(err, ErrRule):
			return d.refuse(StepBody, err)
		case err != nil:
			d.WouldDeny = append(d.WouldDeny, Refusal{StepBody, http.StatusForbidden, fmt.Sprintf("profile %s: %v", d.ProfileName(), err)})
		case len(j.missing) > 0:
			return d.pending(StepBody, j)
		}
	}
	d.Verdict, d.Step, d.Status = Allow, StepLearn, http.StatusOK
	d.Reason = "learn mode allows what the policy would deny: " + d.WouldDenyText()
	return d
}

// IsNonRootUser reports a user spec the create and exec rules' user:
// non-root accepts: a numeric non-zero uid with a numeric non-zero gid.
func IsNonRootUser(user string) bool { return !isRootUser(user) }

// SetsNoNewPrivileges reports security options that leave
// no-new-privileges on, as the engine applies them.
func SetsNoNewPrivileges(opts []string) bool { return setsNoNewPrivileges(opts) }

// IsTighteningSecurityOpt reports a security option the create rules
// accept without security_opt: one that only restricts.
func IsTighteningSecurityOpt(o string) bool { return isTighteningSecurityOpt(o) }

// IsLocalLogDriver reports a log driver the create rules accept without
// log_drivers.
func IsLocalLogDriver(driver string) bool {
	return (&CreateRules{}).judgeLogDriver(driver) == nil
}

// DefaultRegistry reports a reference the rules read as Docker Hub's,
// which needs no remote_fetch.
func DefaultRegistry(ref string) bool { return defaultRegistry(ref) }

// Covers reports whether the create rules' bind sources admit a host
// path as written.
func (r *CreateRules) Covers(hostPath string) bool { return underAny(hostPath, r.BindSources) }

// AllowsCap reports whether the create rules admit adding a capability.
func (r *CreateRules) AllowsCap(c string) bool { return r.capAllowed(c) }

// AllowsImage reports whether the create rules admit an image.
func (r *CreateRules) AllowsImage(image string) bool { return r.judgeImage(image) == nil }
