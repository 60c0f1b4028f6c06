// Package learn keeps what learning callers do and writes the policy that
// would let them do exactly that. The daemon records every decision made
// in learn mode as aggregated counts per caller and operation, with the
// facts the body rules judge (bind sources, namespaces, capabilities,
// user, image...), never a body, an environment value or a header value;
// the records live in a state file that survives restarts and reloads.
// Suggest turns them into a policy file.
package learn

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

// StateVersion is the state file's format.
const StateVersion = 1

// Bounds of the records: the state file stays under a few megabytes
// whatever the callers do.
const (
	MaxCallers     = 256
	MaxFacts       = 512 // per caller
	maxFactLen     = 512
	maxFactsPerReq = 64
)

// State is everything recorded: one record per learning caller.
type State struct {
	Version int       `json:"version"`
	Callers []*Caller `json:"callers"`
	// DroppedCallers counts decisions of callers beyond MaxCallers,
	// which are not recorded.
	DroppedCallers uint64 `json:"dropped_callers,omitempty"`
}

// Caller is what one caller did: a host process by its uid, a container
// by its name (Container).
type Caller struct {
	Key    string   `json:"key"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
	// User is the uid's name when it was first seen, if it has one.
	User      string     `json:"user,omitempty"`
	Container *Container `json:"container,omitempty"`
	// Contained says the caller ran in a container the filter could not
	// name: a user entry for it needs in_container.
	Contained bool `json:"contained,omitempty"`
	// Profile, Rule and View are those of the policy in force when the
	// caller was last seen.
	Profile string `json:"profile"`
	Rule    string `json:"rule"`
	View    *View  `json:"view,omitempty"`

	Ops   map[string]*Op   `json:"ops"`
	Facts map[string]*Seen `json:"facts,omitempty"`
	// DroppedFacts counts facts beyond MaxFacts, or too long to keep.
	DroppedFacts uint64 `json:"dropped_facts,omitempty"`
}

// filterCaller is the caller as the filter's policy sees it.
func (c *Caller) filterCaller() filter.Caller {
	fc := filter.Caller{Known: true, Contained: c.Contained, Peer: filter.Peer{UID: c.UID, GID: c.GID, Groups: c.Groups}}
	if ct := c.Container; ct != nil {
		fc.Contained = true
		fc.Container = &filter.Container{ID: ct.ID, Name: ct.Name, Image: ct.Image, Labels: ct.Labels}
	}
	return fc
}

// Container names a caller that runs in a container.
type Container struct {
	ID     string            `json:"id,omitempty"`
	Name   string            `json:"name,omitempty"`
	Image  string            `json:"image,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// View is the view of the profile in force, which a suggestion keeps.
type View struct {
	RedactEnv      bool   `json:"redact_env,omitempty"`
	VisibleIfLabel string `json:"visible_if_label,omitempty"`
}

// Seen counts occurrences and when the first and last were.
type Seen struct {
	Count uint64    `json:"count"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

func (s *Seen) add(now time.Time) {
	if s.Count == 0 || now.Before(s.First) {
		s.First = now
	}
	if now.After(s.Last) {
		s.Last = now
	}
	s.Count++
}

// merge folds another count of the same thing into s.
func (s *Seen) merge(o Seen) {
	if o.Count == 0 {
		return
	}
	if s.Count == 0 || o.First.Before(s.First) {
		s.First = o.First
	}
	if o.Last.After(s.Last) {
		s.Last = o.Last
	}
	s.Count += o.Count
}

// Op counts one operation of a caller.
type Op struct {
	Seen
	// Denied counts the calls that were denied: by the policy in force
	// under fallback deny, or for what no learn mode forwards.
	Denied uint64 `json:"denied,omitempty"`
	// WouldDeny counts the calls the policy in force would deny, by the
	// step that would; the reasons are in the audit log only, since they
	// may quote a command line.
	WouldDeny map[string]uint64 `json:"would_deny,omitempty"`
}

// callerKey identifies a caller's record.
// callerKey tells callers apart the way a policy can name them: a verified
// container by its name (its id changes when it is recreated, its name
// does not), a process in a container the filter could not name apart
// from host processes, a host process by its uid.
func callerKey(c filter.Caller) string {
	uid := strconv.FormatUint(uint64(c.UID), 10)
	switch {
	case c.Container != nil:
		return "container=" + c.Container.Name
	case c.Contained:
		return "contained uid=" + uid
	}
	return "uid=" + uid
}

// Recorder keeps the records in memory and saves them to a Store. It is
// safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	state    State
	byKey    map[string]*Caller
	dirty    bool
	now      func() time.Time
	resolve  func(string) (string, error)
	user     func(uid uint32) string
	engineV1 func() bool
}

// Options configure a Recorder's access to the host.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// ResolveHostPath resolves a bind source as the kernel will, so
	// that a suggestion allows both the path and its target.
	ResolveHostPath func(string) (string, error)
	// UserName names a uid, "" when it has no name.
	UserName func(uid uint32) string
	// EngineCgroupV1 reports an engine on cgroup v1, whose default
	// cgroup namespace is the host's.
	EngineCgroupV1 func() bool
}

// NewRecorder starts from the records in state (nil for none).
func NewRecorder(state *State, o Options) *Recorder {
	r := &Recorder{byKey: make(map[string]*Caller), now: o.Now, resolve: o.ResolveHostPath, user: o.UserName, engineV1: o.EngineCgroupV1}
	if r.now == nil {
		r.now = time.Now
	}
	r.state.Version = StateVersion
	if state != nil {
		r.state.DroppedCallers = state.DroppedCallers
		for _, c := range state.Callers {
			if c == nil || c.Key == "" || r.byKey[c.Key] != nil || len(r.state.Callers) >= MaxCallers {
				continue
			}
			if c.Ops == nil {
				c.Ops = make(map[string]*Op)
			}
			if c.Facts == nil {
				c.Facts = make(map[string]*Seen)
			}
			r.byKey[c.Key] = c
			r.state.Callers = append(r.state.Callers, c)
		}
	}
	return r
}

// Record adds one decision made in learn mode, with the request as
// judged. Decisions that name no operation are not recorded.
func (r *Recorder) Record(c filter.Caller, req *filter.Request, d *filter.Decision) {
	if d.Route == nil || !c.Known {
		return
	}
	facts := requestFacts(req, d, r.engineV1)
	key := callerKey(c)
	now := r.now().UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.byKey[key]
	if rec == nil {
		if len(r.state.Callers) >= MaxCallers {
			r.state.DroppedCallers++
			r.dirty = true
			return
		}
		rec = &Caller{Key: key, UID: c.UID, Ops: make(map[string]*Op), Facts: make(map[string]*Seen)}
		if r.user != nil {
			// Once per caller: the name as it was when first seen.
			rec.User = r.user(c.UID)
		}
		r.byKey[key] = rec
		r.state.Callers = append(r.state.Callers, rec)
	}
	rec.GID = c.GID
	rec.Groups = slices.Clone(c.Groups)
	rec.Contained = c.Contained
	if ct := c.Container; ct != nil {
		rec.Container = &Container{ID: ct.ID, Name: ct.Name, Image: ct.Image, Labels: maps.Clone(ct.Labels)}
	}
	rec.Profile, rec.Rule, rec.View = d.ProfileName(), d.Rule, viewOf(d.Profile)
	op := rec.Ops[d.Route.Operation]
	if op == nil {
		op = &Op{}
		rec.Ops[d.Route.Operation] = op
	}
	op.add(now)
	if !d.Allowed() {
		op.Denied++
	}
	for _, w := range d.WouldDeny {
		if op.WouldDeny == nil {
			op.WouldDeny = make(map[string]uint64)
		}
		op.WouldDeny[string(w.Step)]++
	}
	for _, f := range facts {
		isNew := rec.Facts[f] == nil
		r.addFact(rec, f, now)
		if b, ok := strings.CutPrefix(f, factBind); ok && isNew && r.resolve != nil {
			// Resolved here, once per new path: the request's own
			// lookups never reach a path the rules refuse as written.
			if real, err := r.resolve(b); err == nil && real != b {
				r.addFact(rec, factBind+real, now)
			}
		}
	}
	r.dirty = true
}

func (r *Recorder) addFact(rec *Caller, f string, now time.Time) {
	s := rec.Facts[f]
	if s == nil {
		if len(rec.Facts) >= MaxFacts || len(f) > maxFactLen {
			rec.DroppedFacts++
			return
		}
		s = &Seen{}
		rec.Facts[f] = s
	}
	s.add(now)
}

func viewOf(p *filter.Profile) *View {
	if p == nil {
		return nil
	}
	v := View{RedactEnv: p.View.RedactEnv, VisibleIfLabel: p.View.LabelKey}
	if p.View.HasValue {
		v.VisibleIfLabel += "=" + p.View.LabelValue
	}
	if v == (View{}) {
		return nil
	}
	return &v
}

// Snapshot returns a deep copy of the records, sorted by caller, and
// whether they changed since the last snapshot taken with clean set.
func (r *Recorder) Snapshot(clean bool) (*State, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dirty := r.dirty
	if clean {
		r.dirty = false
	}
	return r.state.clone(), dirty
}

// markDirty says a save failed: the records must be saved again.
func (r *Recorder) markDirty() {
	r.mu.Lock()
	r.dirty = true
	r.mu.Unlock()
}

func (s *State) clone() *State {
	out := &State{Version: s.Version, DroppedCallers: s.DroppedCallers}
	for _, c := range s.Callers {
		cc := *c
		cc.Groups = slices.Clone(c.Groups)
		if c.View != nil {
			v := *c.View
			cc.View = &v
		}
		if c.Container != nil {
			ct := *c.Container
			ct.Labels = maps.Clone(c.Container.Labels)
			cc.Container = &ct
		}
		cc.Ops = make(map[string]*Op, len(c.Ops))
		for k, op := range c.Ops {
			o := *op
			o.WouldDeny = maps.Clone(op.WouldDeny)
			cc.Ops[k] = &o
		}
		cc.Facts = make(map[string]*Seen, len(c.Facts))
		for k, f := range c.Facts {
			ff := *f
			cc.Facts[k] = &ff
		}
		out.Callers = append(out.Callers, &cc)
	}
	slices.SortFunc(out.Callers, func(a, b *Caller) int {
		if a.UID != b.UID {
			return int(int64(a.UID) - int64(b.UID))
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}
