package filter

import (
	"errors"
	"fmt"
	"slices"
	"strings"
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

// Caller is the peer of a request's connection. Known is false when the
// connection carried no credentials: such a caller is denied everything.
type Caller struct {
	Peer
	Known bool
	// Container is the container the peer runs in, verified against the
	// engine; nil for a host process and for a peer whose container could
	// not be verified.
	Container *Container
	// Contained is true unless the peer is known to be a host process:
	// it runs in a container, or what it is could not be found out.
	Contained bool
	// Socket is the listening socket the connection came in on.
	Socket Socket
}

// Client picks a profile for the peers it matches. Every condition that is
// set must hold.
type Client struct {
	UID       *uint32         // the peer's uid
	GID       *uint32         // the peer's primary or a supplementary group
	Container *ContainerMatch // the peer's verified container
	// InContainer lets a user or group entry without a container matcher
	// match peers in containers too, whose root may take any uid.
	InContainer bool
	Profile     string // profile name, or NoProfile
	// Learn is the entry's learn mode; LearnInherit leaves it to the
	// profile's.
	Learn Learn
	// Name describes the entry for logs and messages, e.g. "clients[0]".
	Name string
}

// NoProfile is the profile name that denies everything.
const NoProfile = "none"

func (c *Client) matches(caller *Caller) bool {
	if !c.matchesWhere(caller) {
		return false
	}
	p := caller.Peer
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
	sockets  []SocketBinding
	// fallback is the profile for peers no client entry matches, or
	// NoProfile.
	fallback string
	// learnListed and learnUnlisted are the daemon's learn modes (WithLearn).
	learnListed, learnUnlisted Learn
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

// Default returns the name of the profile for peers no entry matches.
func (p *Policy) Default() string { return p.fallback }

// Lists reports whether a client entry or a bound socket names the caller
// with a profile: one of the admin's own, for which limits keep a reserve.
func (p *Policy) Lists(caller Caller) bool {
	prof, rule := p.ProfileFor(caller)
	return prof != nil && rule != "default"
}

// ProfileFor returns the profile for a caller (nil for NoProfile) and the
// rule that chose it: the socket's binding, else the first matching client
// entry, else the default.
func (p *Policy) ProfileFor(caller Caller) (*Profile, string) {
	prof, rule, _ := p.match(caller)
	return prof, rule
}

// match is ProfileFor with the client entry that matched, nil for a
// socket's binding or the default.
func (p *Policy) match(caller Caller) (*Profile, string, *Client) {
	if b := p.boundSocket(caller.Socket); b != nil {
		return p.profiles[b.Profile], b.Rule, nil
	}
	for i := range p.clients {
		c := &p.clients[i]
		if c.matches(&caller) {
			return p.profiles[c.Profile], c.Name, c
		}
	}
	return p.profiles[p.fallback], "default", nil
}
