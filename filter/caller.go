package filter

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Container is what the engine said about the container a peer runs in,
// once the peer was verified to be inside it.
type Container struct {
	ID     string // full id
	Name   string // without the engine's leading "/"
	Image  string // the image reference it was created from
	Labels map[string]string
}

// ContainerMatch names containers by what their creator gave them. Every
// field that is set must hold.
type ContainerMatch struct {
	Name string // the container's name, exactly
	// Label is key or key=value.
	LabelKey, LabelValue string
	HasLabel, HasValue   bool
	// Image is a path.Match pattern for the image reference, e.g.
	// "traefik:*".
	Image string
}

// ParseContainerMatch checks a matcher's values; label is "" or key or
// key=value.
func ParseContainerMatch(name, label, image string) (*ContainerMatch, error) {
	m := &ContainerMatch{Name: strings.TrimPrefix(name, "/"), Image: image}
	if name == "" && label == "" && image == "" {
		return nil, errors.New("container: name, label or image is required")
	}
	if label != "" {
		lv, err := ParseLabelRule(label)
		if err != nil {
			return nil, err
		}
		m.HasLabel, m.LabelKey, m.LabelValue, m.HasValue = true, lv.LabelKey, lv.LabelValue, lv.HasValue
	}
	if image != "" {
		if _, err := path.Match(image, ""); err != nil {
			return nil, fmt.Errorf("container image pattern %q: %w", image, err)
		}
	}
	return m, nil
}

// Matches reports whether c is a container the matcher names.
func (m *ContainerMatch) Matches(c *Container) bool {
	if c == nil {
		return false
	}
	if m.Name != "" && m.Name != c.Name {
		return false
	}
	if m.HasLabel {
		v, ok := c.Labels[m.LabelKey]
		if !ok || (m.HasValue && v != m.LabelValue) {
			return false
		}
	}
	if m.Image != "" {
		if ok, _ := path.Match(m.Image, c.Image); !ok {
			return false
		}
	}
	return true
}

// String describes the matcher for rule names.
func (m *ContainerMatch) String() string {
	var parts []string
	if m.Name != "" {
		parts = append(parts, "name "+m.Name)
	}
	if m.HasLabel {
		l := m.LabelKey
		if m.HasValue {
			l += "=" + m.LabelValue
		}
		parts = append(parts, "label "+l)
	}
	if m.Image != "" {
		parts = append(parts, "image "+m.Image)
	}
	return "container " + strings.Join(parts, ", ")
}

// matchesWhere is the first condition of every entry: where the peer runs.
// A container entry names only verified containers. An entry of users and
// groups names host processes only, unless it says InContainer: a
// container's root may take any uid before it connects.
func (c *Client) matchesWhere(caller *Caller) bool {
	if c.Container != nil {
		return c.Container.Matches(caller.Container)
	}
	return !caller.Contained || c.InContainer
}

// Socket is a listening socket: the name systemd gave it
// (FileDescriptorName), its path, or both.
type Socket struct {
	Name string
	Path string
}

// SocketBinding pins every connection on one socket to one profile.
type SocketBinding struct {
	Name    string // systemd's FileDescriptorName, or ""
	Path    string // the socket's path, or ""
	Profile string
	// Mode and Group are the permission bits and gid of a socket the
	// daemon creates at Path: a bound socket's mode is its capability,
	// so it never takes the main socket's. Group nil keeps the daemon's.
	Mode  uint32
	Group *uint32
	// Rule describes the binding for logs, e.g. "listen[0] (path /run/x.sock)".
	Rule string
}

// WithSockets returns a copy of the policy in which connections on the
// bound sockets get the binding's profile, whoever connects. Every
// binding names a defined profile (or NoProfile) and a socket.
func (p *Policy) WithSockets(bindings []SocketBinding) (*Policy, error) {
	var errs []error
	for _, b := range bindings {
		if b.Name == "" && b.Path == "" {
			errs = append(errs, fmt.Errorf("%s: names no socket", b.Rule))
		}
		if b.Profile != NoProfile && p.profiles[b.Profile] == nil {
			errs = append(errs, fmt.Errorf("%s: profile %q is not defined", b.Rule, b.Profile))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	q := *p
	q.sockets = append([]SocketBinding(nil), bindings...)
	return &q, nil
}

// Sockets returns the socket bindings.
func (p *Policy) Sockets() []SocketBinding { return append([]SocketBinding(nil), p.sockets...) }

func (p *Policy) boundSocket(s Socket) *SocketBinding {
	for i := range p.sockets {
		b := &p.sockets[i]
		if (b.Name != "" && b.Name == s.Name) || (b.Path != "" && b.Path == s.Path) {
			return b
		}
	}
	return nil
}
