package filter

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/plugin"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/volume"
)

// Peer is who is calling, as the kernel reported it when the connection was
// made.
type Peer struct {
	UID    uint32
	GID    uint32
	PID    int32
	Groups []uint32 // supplementary groups
}

// InGroup reports whether gid is the peer's primary or a supplementary group.
func (p Peer) InGroup(gid uint32) bool {
	return p.GID == gid || slices.Contains(p.Groups, gid)
}

// Profile is a named set of allowed operations, with the rules that
// constrain the bodies of the writes it allows.
type Profile struct {
	Name   string
	allow  map[string]bool
	Create CreateRules // ContainerCreate, and VolumeCreate's bind options
	Exec   ExecRules   // ContainerExec
	View   View        // what the engine's answers show
}

// Allows reports whether the profile grants an operation.
func (p *Profile) Allows(op string) bool { return p.allow[op] }

// Operations lists the granted operations, sorted.
func (p *Profile) Operations() []string {
	ops := make([]string, 0, len(p.allow))
	for op := range p.allow {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	return ops
}

// Client picks a profile for the peers it matches. Every condition that is
// set must hold.
type Client struct {
	UID     *uint32 // the peer's uid
	GID     *uint32 // the peer's primary or a supplementary group
	Profile string  // profile name, or NoProfile
	// Name describes the entry for logs and messages, e.g. "clients[0]".
	Name string
}

// NoProfile is the profile name that denies everything.
const NoProfile = "none"

func (c *Client) matches(p Peer) bool {
	if c.UID != nil && *c.UID != p.UID {
		return false
	}
	if c.GID != nil && !p.InGroup(*c.GID) {
		return false
	}
	return true
}

// Policy maps peers to profiles and decides requests. It is immutable once
// built and safe for concurrent use.
type Policy struct {
	table    *RouteTable
	profiles map[string]*Profile
	clients  []Client
	// fallback is the profile for peers no client entry matches, or
	// NoProfile.
	fallback string
}

// NewPolicy checks that every client names a defined profile (or
// NoProfile) and builds the policy.
func NewPolicy(table *RouteTable, profiles []*Profile, clients []Client, fallback string) (*Policy, error) {
	p := &Policy{table: table, profiles: make(map[string]*Profile), clients: clients, fallback: fallback}
	for _, prof := range profiles {
		if prof.Name == NoProfile {
			return nil, fmt.Errorf("profile name %q is reserved: it denies everything", NoProfile)
		}
		if _, dup := p.profiles[prof.Name]; dup {
			return nil, fmt.Errorf("profile %q defined twice", prof.Name)
		}
		p.profiles[prof.Name] = prof
	}
	var errs []error
	for _, c := range clients {
		if c.Profile != NoProfile && p.profiles[c.Profile] == nil {
			errs = append(errs, fmt.Errorf("%s: profile %q is not defined", c.Name, c.Profile))
		}
	}
	if fallback != NoProfile && p.profiles[fallback] == nil {
		errs = append(errs, fmt.Errorf("default: profile %q is not defined", fallback))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// Table returns the route table the policy decides with.
func (p *Policy) Table() *RouteTable { return p.table }

// Profiles returns the profiles, sorted by name.
func (p *Policy) Profiles() []*Profile {
	out := make([]*Profile, 0, len(p.profiles))
	for _, prof := range p.profiles {
		out = append(out, prof)
	}
	slices.SortFunc(out, func(a, b *Profile) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Clients returns the client entries in the order they are tried.
func (p *Policy) Clients() []Client { return slices.Clone(p.clients) }

// ProfileFor returns the profile for a peer (nil for NoProfile) and the
// rule that chose it: the first matching client entry, else the default.
func (p *Policy) ProfileFor(peer Peer) (*Profile, string) {
	for i := range p.clients {
		c := &p.clients[i]
		if c.matches(peer) {
			return p.profiles[c.Profile], c.Name
		}
	}
	return p.profiles[p.fallback], "default"
}

// Decision is the outcome for one request.
type Decision struct {
	Allow  bool
	Route  *Route // nil for a path or method the table does not name
	Target Target
	// Profile is the chosen profile's name, or NoProfile.
	Profile string
	Rule    string
	Reason  string
	// Status is the HTTP status to answer a denied request with.
	Status int
}

// Operation is the route's operation id, or "unknown route".
func (d *Decision) Operation() string {
	if d.Route == nil {
		return "unknown route"
	}
	return d.Route.Operation
}

// Decide judges one request from its method and escaped path. The query
// string plays no part: it does not change the operation.
func (p *Policy) Decide(peer Peer, method, escapedPath string) Decision {
	prof, rule := p.ProfileFor(peer)
	d := Decision{Profile: NoProfile, Rule: rule, Status: http.StatusForbidden}
	if prof != nil {
		d.Profile = prof.Name
	}
	target, err := ParsePath(escapedPath)
	if err != nil {
		d.Reason = err.Error()
		d.Status = http.StatusBadRequest
		return d
	}
	d.Target = target
	d.Route = p.table.Match(method, target.Segments)
	switch {
	case d.Route == nil:
		d.Reason = "the Docker API has no such operation"
	case prof == nil:
		d.Reason = fmt.Sprintf("%s gives no profile (%s)", rule, NoProfile)
	case !prof.Allows(d.Route.Operation):
		d.Reason = fmt.Sprintf("profile %s (%s) does not allow %s", prof.Name, rule, d.Route.Operation)
	default:
		d.Allow = true
		d.Status = http.StatusOK
		// The rule that chose the profile says why; building a sentence
		// for every allowed request would cost an allocation each.
		d.Reason = rule
	}
	return d
}

// DecideRequest is Decide for a request whose body length is known:
// contentLength is 0 for none, -1 for a body of unknown length (chunked).
// An operation that takes no body is refused if the request carries one.
func (p *Policy) DecideRequest(peer Peer, method, escapedPath string, contentLength int64) Decision {
	d := p.Decide(peer, method, escapedPath)
	if d.Allow && !d.Route.Body && contentLength != 0 {
		d.Refuse(http.StatusBadRequest, fmt.Sprintf("%s takes no request body, and this request carries one", d.Route.Operation))
	}
	return d
}

// Refuse turns the decision into a denial answered with status.
func (d *Decision) Refuse(status int, reason string) {
	d.Allow, d.Status, d.Reason = false, status, reason
}

// RefuseFor turns the decision into a denial for an error of JudgeBody,
// JudgeQuery or JudgeTarget: 400 for a request the filter cannot read the
// way the engine would (ErrBody), 403 for what the profile's rules refuse.
func (d *Decision) RefuseFor(err error) {
	if errors.Is(err, ErrBody) {
		d.Refuse(http.StatusBadRequest, err.Error())
		return
	}
	d.Refuse(http.StatusForbidden, fmt.Sprintf("profile %s: %v", d.Profile, err))
}

// createBody is the container create request with the fields that
// clients of API 1.41 and older still send and the API types dropped
// (docker 20.10 always sends KernelMemory and KernelMemoryTCP as 0):
// known, so that unknown fields can be refused, and harmless.
type createBody struct {
	*container.Config
	HostConfig       *legacyHostConfig         `json:",omitempty"`
	NetworkingConfig *network.NetworkingConfig `json:",omitempty"`
}

type legacyHostConfig struct {
	container.HostConfig
	KernelMemory    int64
	KernelMemoryTCP int64
}

func (b *createBody) request() *container.CreateRequest {
	req := &container.CreateRequest{Config: b.Config, NetworkingConfig: b.NetworkingConfig}
	if b.HostConfig != nil {
		req.HostConfig = &b.HostConfig.HostConfig
	}
	return req
}

// execCreateBody is the exec create request with the fields that current
// clients still send and the API types dropped: known, so that unknown
// fields can be refused, and harmless (the engine ignores Detach here).
type execCreateBody struct {
	container.ExecCreateRequest
	Detach bool
}

// View returns the view a profile gives of the engine's answers, or nil
// when it changes nothing.
func (p *Policy) View(profile string) *View {
	prof := p.profiles[profile]
	if prof == nil || (!prof.View.RedactEnv && prof.View.LabelKey == "") {
		return nil
	}
	return &prof.View
}

// BodyRules describes the rules a profile applies to an operation's body,
// or "" when the operation's body is not judged.
func (p *Policy) BodyRules(profile, op string) string {
	prof := p.profiles[profile]
	if prof == nil || !JudgesBody(op) {
		return ""
	}
	if op == "ContainerExec" {
		return prof.Exec.Describe()
	}
	return prof.Create.Describe()
}

// TargetsContainer reports operations that hand the caller an existing
// container's reach: running code in it, reading, writing or committing
// its files, its stdin, starting or restarting it. The container named in the path is judged with
// JudgeTarget before they are forwarded.
func TargetsContainer(op string) bool {
	switch op {
	case "ContainerExec", "PutContainerArchive", "ContainerArchive", "ContainerArchiveInfo",
		"ContainerExport", "ContainerAttach", "ContainerAttachWebsocket", "ContainerStart",
		"ContainerRestart", "ImageCommit":
		return true
	}
	return false
}

// TargetQueryKey is the query parameter that names an operation's target
// container, for operations that do not name it in the path.
func TargetQueryKey(op string) string {
	if op == "ImageCommit" {
		return "container"
	}
	return ""
}

// JudgeTarget checks the target of an operation TargetsContainer: its
// host config, as the engine's inspect shows it, against the profile's
// create rules.
func (p *Policy) JudgeTarget(d *Decision, hc *container.HostConfig, resolve HostPathResolver) error {
	prof := p.profiles[d.Profile]
	if prof == nil {
		return refuse("no profile")
	}
	return prof.Create.JudgeExisting(hc, resolve)
}

// JudgesBody reports whether an operation's request body is judged by
// profile rules; the proxy then reads it whole before deciding.
func JudgesBody(op string) bool {
	switch op {
	case "ContainerCreate", "ContainerExec", "VolumeCreate", "ServiceCreate", "ServiceUpdate",
		"PluginPull", "PluginUpgrade", "PluginSet":
		return true
	}
	return false
}

// JudgeBody decodes and judges the body of an allowed request whose
// operation JudgesBody. It returns an error wrapping ErrBody (400: the
// body is malformed or ambiguous) or ErrRule (403: a rule refuses it).
func (p *Policy) JudgeBody(d *Decision, body []byte, resolve HostPathResolver) error {
	prof := p.profiles[d.Profile]
	if prof == nil || d.Route == nil {
		return refuse("no profile")
	}
	switch d.Route.Operation {
	case "ContainerCreate":
		var req createBody
		if err := DecodeBody(body, &req); err != nil {
			return err
		}
		return prof.Create.JudgeCreate(req.request(), resolve)
	case "ContainerExec":
		var req execCreateBody
		if err := DecodeBody(body, &req); err != nil {
			return err
		}
		return prof.Exec.JudgeExec(&req.ExecCreateRequest)
	case "VolumeCreate":
		var req volume.CreateRequest
		if err := DecodeBody(body, &req); err != nil {
			return err
		}
		return prof.Create.JudgeVolumeCreate(&req, resolve)
	case "PluginPull", "PluginUpgrade":
		var privileges plugin.Privileges
		if err := DecodeBody(body, &privileges); err != nil {
			return err
		}
		return prof.Create.JudgePlugin(d.Route.Operation, privileges, nil)
	case "PluginSet":
		var settings []string
		if err := DecodeBody(body, &settings); err != nil {
			return err
		}
		return prof.Create.JudgePlugin(d.Route.Operation, nil, settings)
	case "ServiceCreate", "ServiceUpdate":
		var spec swarm.ServiceSpec
		if err := DecodeBody(body, &spec); err != nil {
			return err
		}
		return prof.Create.JudgeService(&spec, resolve)
	}
	return nil
}

// JudgeQuery checks the query of an allowed request whose operation takes
// settings there that the body rules govern: ImageBuild's network mode
// and cgroup parent apply to every build step; ServiceUpdate's rollback
// applies a spec the rules never saw. A query that does not
// parse is refused: the engine and the filter might read it differently.
func (p *Policy) JudgeQuery(d *Decision, rawQuery string) error {
	if d.Route == nil || (d.Route.Operation != "ImageBuild" && d.Route.Operation != "ServiceUpdate") {
		return nil
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return fmt.Errorf("%w: query: %w", ErrBody, err)
	}
	prof := p.profiles[d.Profile]
	if prof == nil {
		return refuse("no profile")
	}
	if d.Route.Operation == "ServiceUpdate" {
		// A rollback restores an earlier spec, which this body does not
		// carry and the rules cannot see.
		if q.Get("rollback") != "" {
			return refuse("service rollback is not allowed")
		}
		return nil
	}
	switch mode := q.Get("networkmode"); mode {
	case "", "default", "bridge", "none":
	default:
		if !prof.Create.HostNamespaces {
			return refuse("build network mode %q is not allowed", mode)
		}
	}
	if q.Get("cgroupparent") != "" && !prof.Create.CgroupParent {
		return refuse("a build cgroup parent is not allowed")
	}
	return nil
}
