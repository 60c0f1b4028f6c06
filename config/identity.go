package config

import (
	"fmt"
	"path"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

// containerMatch reads a client entry's container: {name, label, image}.
func (p *parser) containerMatch(n *yaml.Node, what string) *filter.ContainerMatch {
	var name, label, image string
	for _, kv := range p.mapping(n, what, "name", "label", "image") {
		s, ok := p.scalar(kv[1], what+"."+kv[0].Value)
		if !ok {
			continue
		}
		switch kv[0].Value {
		case "name":
			name = s
		case "label":
			label = s
		case "image":
			image = s
		}
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	m, err := filter.ParseContainerMatch(name, label, image)
	if err != nil {
		p.errorf(n, "%s: %v", what, err)
		return nil
	}
	return m
}

type listenAt struct {
	binding filter.SocketBinding
	node    *yaml.Node // the profile value, for errors
}

// listen reads the sockets pinned to a profile: each names its path or
// the name systemd gives it (FileDescriptorName), and the profile.
func (p *parser) listen(n *yaml.Node) []listenAt {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "listen must be a list")
		return nil
	}
	var out []listenAt
	seen := make(map[string]bool)
	for i, e := range n.Content {
		l := listenAt{binding: filter.SocketBinding{Rule: fmt.Sprintf("listen[%d]", i), Mode: 0o600}, node: e}
		what := l.binding.Rule
		for _, kv := range p.mapping(e, what, "path", "name", "profile", "mode", "group") {
			s, ok := p.scalar(kv[1], what+"."+kv[0].Value)
			if !ok {
				continue
			}
			switch kv[0].Value {
			case "path":
				if !path.IsAbs(s) || path.Clean(s) != s {
					p.errorf(kv[1], "%s.path: %q must be a clean absolute path", what, s)
					continue
				}
				l.binding.Path = s
			case "name":
				l.binding.Name = s
			case "profile":
				l.binding.Profile, l.node = s, kv[1]
			case "mode":
				m, err := strconv.ParseUint(s, 8, 32)
				if err != nil || m > 0o777 {
					p.errorf(kv[1], "%s.mode: %q: want octal permission bits such as 0660", what, s)
					continue
				}
				l.binding.Mode = uint32(m)
			case "group":
				if gid, ok := p.resolve(kv[1], s, "group", p.res.LookupGroup); ok {
					l.binding.Group = &gid
				}
			}
		}
		if e.Kind != yaml.MappingNode {
			continue
		}
		b := &l.binding
		switch {
		case b.Profile == "":
			p.errorf(e, "%s: profile is required", what)
			continue
		case b.Path == "" && b.Name == "":
			p.errorf(e, "%s: names no socket: give its path, or the name systemd gives it (FileDescriptorName)", what)
			continue
		}
		for _, key := range []string{"path " + b.Path, "name " + b.Name} {
			if key != "path " && key != "name " && seen[key] {
				p.errorf(e, "%s: %s is bound twice", what, key)
			}
			seen[key] = true
		}
		switch {
		case b.Path != "" && b.Name != "":
			b.Rule += fmt.Sprintf(" (socket %s, path %s)", b.Name, b.Path)
		case b.Path != "":
			b.Rule += " (path " + b.Path + ")"
		default:
			b.Rule += " (socket " + b.Name + ")"
		}
		out = append(out, l)
	}
	return out
}

func bindings(ls []listenAt) []filter.SocketBinding {
	out := make([]filter.SocketBinding, len(ls))
	for i, l := range ls {
		out[i] = l.binding
	}
	return out
}
