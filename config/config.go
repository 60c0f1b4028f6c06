// Package config loads the policy file: strict YAML, validated as a whole
// before any of it is used, with user and group names resolved at load
// time. Every problem found is reported with the file and line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

// Resolver turns user and group names into ids.
type Resolver interface {
	LookupUser(name string) (uint32, error)
	LookupGroup(name string) (uint32, error)
}

// SystemResolver resolves names with the system's user and group databases.
type SystemResolver struct{}

// LookupUser returns the uid of a user name.
func (SystemResolver) LookupUser(name string) (uint32, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, err
	}
	return parseID(u.Uid)
}

// LookupGroup returns the gid of a group name.
func (SystemResolver) LookupGroup(name string) (uint32, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, err
	}
	return parseID(g.Gid)
}

// ResolveID reads s as a numeric id, or else as a name for lookup: the
// policy file and the flags accept either for users and groups.
func ResolveID(s string, lookup func(string) (uint32, error)) (uint32, error) {
	if id, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(id), nil
	}
	return lookup(s)
}

func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("id %q: %w", s, err)
	}
	return uint32(n), nil
}

// File is a loaded, valid policy file.
type File struct {
	Policy *filter.Policy
	// Upstream is the engine URL the file names, or "".
	Upstream string
}

// Load reads and validates a policy file.
func Load(path string, table *filter.RouteTable, res Resolver) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	return Parse(path, data, table, res)
}

// Parse validates a policy file's contents; name labels its errors.
func Parse(name string, data []byte, table *filter.RouteTable, res Resolver) (*File, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// A second document would be silently ignored: refuse it.
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s:%d: a second YAML document: the policy file must hold exactly one", name, extra.Line)
	} else if !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &parser{name: name, table: table, res: res}
	f := p.document(&doc)
	if err := errors.Join(p.errs...); err != nil {
		return nil, err
	}
	return f, nil
}

type parser struct {
	name  string
	table *filter.RouteTable
	res   Resolver
	errs  []error
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s:%d: %s", p.name, n.Line, fmt.Sprintf(format, args...)))
}

// mapping returns a mapping node's key/value pairs, reporting unknown and
// duplicate keys.
func (p *parser) mapping(n *yaml.Node, what string, known ...string) [][2]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping", what)
		return nil
	}
	seen := make(map[string]bool)
	var pairs [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			p.errorf(k, "%s: key %q given twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		if known != nil && !slices.Contains(known, k.Value) {
			p.errorf(k, "%s: unknown key %q", what, k.Value)
			continue
		}
		pairs = append(pairs, [2]*yaml.Node{k, v})
	}
	return pairs
}

func (p *parser) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Value == "" {
		p.errorf(n, "%s must be a non-empty string or number", what)
		return "", false
	}
	return n.Value, true
}

type clientAt struct {
	client filter.Client
	node   *yaml.Node // the profile value, for errors
}

func (p *parser) document(doc *yaml.Node) *File {
	if doc.Kind == 0 || len(doc.Content) == 0 {
		p.errs = append(p.errs, fmt.Errorf("%s: the file is empty", p.name))
		return nil
	}
	f := &File{}
	var profiles []*filter.Profile
	var clients []clientAt
	fallback := filter.NoProfile
	var fallbackNode *yaml.Node
	var listen []listenAt
	for _, kv := range p.mapping(doc.Content[0], "policy", "upstream", "profiles", "clients", "listen", "default") {
		switch k, v := kv[0], kv[1]; k.Value {
		case "upstream":
			f.Upstream, _ = p.scalar(v, "upstream")
		case "profiles":
			profiles = p.profiles(v)
		case "clients":
			clients = p.clients(v)
		case "listen":
			listen = p.listen(v)
		case "default":
			if s, ok := p.scalar(v, "default"); ok {
				fallback, fallbackNode = s, v
			}
		}
	}
	defined := map[string]bool{filter.NoProfile: true}
	for _, prof := range profiles {
		defined[prof.Name] = true
	}
	for _, c := range clients {
		profiles = p.usePreset(c.node, c.client.Name, c.client.Profile, profiles, defined)
	}
	if fallbackNode != nil {
		profiles = p.usePreset(fallbackNode, "default", fallback, profiles, defined)
	}
	for _, l := range listen {
		profiles = p.usePreset(l.node, l.binding.Rule, l.binding.Profile, profiles, defined)
	}
	var list []filter.Client
	for _, c := range clients {
		if !defined[c.client.Profile] {
			p.errorf(c.node, "%s: profile %q is not defined", c.client.Name, c.client.Profile)
		}
		list = append(list, c.client)
	}
	for _, l := range listen {
		if !defined[l.binding.Profile] {
			p.errorf(l.node, "%s: profile %q is not defined", l.binding.Rule, l.binding.Profile)
		}
	}
	if fallbackNode != nil && !defined[fallback] {
		p.errorf(fallbackNode, "default: profile %q is not defined", fallback)
	}
	if len(p.errs) > 0 {
		return nil
	}
	policy, err := filter.NewPolicy(p.table, profiles, list, fallback)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w", p.name, err))
		return nil
	}
	if f.Policy, err = policy.WithSockets(bindings(listen)); err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w", p.name, err))
		return nil
	}
	return f
}

func (p *parser) profiles(n *yaml.Node) []*filter.Profile {
	var out []*filter.Profile
	for _, kv := range p.mapping(n, "profiles") {
		k, v := kv[0], kv[1]
		name := k.Value
		if name == filter.NoProfile {
			p.errorf(k, "profile name %q is reserved: it denies everything", name)
			continue
		}
		if strings.HasPrefix(name, filter.PresetPrefix) {
			p.errorf(k, "profile name %q: names starting with %s are the built-in presets'; extend one instead (extends: %s)", name, filter.PresetPrefix, name)
			continue
		}
		var entries []string
		var create filter.CreateRules
		var exec filter.ExecRules
		var view filter.View
		var base *filter.Preset
		var learn filter.Learn
		set := make(map[string]bool)
		for _, pkv := range p.mapping(v, "profile "+name, "extends", "allow", "create", "exec", "redact", "visible_if_label", "learn") {
			set[pkv[0].Value] = true
			switch pkv[0].Value {
			case "learn":
				learn = p.learnMode(pkv[1], "profile "+name+" learn")
			case "extends":
				base = p.extends(pkv[1], name)
			case "redact":
				for _, r := range p.strings(pkv[1], "profile "+name+" redact") {
					if r != "env" {
						p.errorf(pkv[1], "profile %s redact: %q is not something that can be redacted (env)", name, r)
					}
					view.RedactEnv = true
				}
			case "visible_if_label":
				if s, ok := p.scalar(pkv[1], "profile "+name+" visible_if_label"); ok {
					lv, err := filter.ParseLabelRule(s)
					if err != nil {
						p.errorf(pkv[1], "profile %s: %v", name, err)
					}
					view.LabelKey, view.LabelValue, view.HasValue = lv.LabelKey, lv.LabelValue, lv.HasValue
				}
			case "allow":
				entries = p.allowList(pkv[1], name)
			case "create":
				create = block(p, pkv[1], "profile "+name+" create", createFields())
			case "exec":
				exec = block(p, pkv[1], "profile "+name+" exec", execFields())
			}
		}
		if base != nil {
			if prof := p.extendPreset(base, name, entries, set, create, exec, view); prof != nil {
				prof.Learn = learn
				out = append(out, prof)
			}
			continue
		}
		prof, err := filter.NewProfile(p.table, name, entries)
		if err != nil {
			// allowList already reported each bad entry with its line.
			continue
		}
		prof.Create, prof.Exec, prof.View, prof.Learn = create, exec, view, learn
		out = append(out, prof)
	}
	return out
}

func (p *parser) allowList(n *yaml.Node, profile string) []string {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "profile %s: allow must be a list", profile)
		return nil
	}
	var entries []string
	for _, e := range n.Content {
		s, ok := p.scalar(e, "an allow entry")
		if !ok {
			continue
		}
		if _, err := p.table.Expand(s); err != nil {
			p.errorf(e, "profile %s: %v", profile, err)
			continue
		}
		entries = append(entries, s)
	}
	return entries
}

func (p *parser) clients(n *yaml.Node) []clientAt {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "clients must be a list")
		return nil
	}
	var out []clientAt
	for i, e := range n.Content {
		c := clientAt{client: filter.Client{Name: fmt.Sprintf("clients[%d]", i)}, node: e}
		var matchers []string
		for _, kv := range p.mapping(e, c.client.Name, "user", "group", "container", "in_container", "profile", "learn") {
			k, v := kv[0], kv[1]
			switch k.Value {
			case "container":
				if m := p.containerMatch(v, c.client.Name+".container"); m != nil {
					c.client.Container = m
					matchers = append(matchers, m.String())
				}
				continue
			case "in_container":
				c.client.InContainer = p.boolean(v, c.client.Name+".in_container")
				continue
			}
			s, ok := p.scalar(v, c.client.Name+"."+k.Value)
			if !ok {
				continue
			}
			switch k.Value {
			case "learn":
				c.client.Learn = p.learnMode(v, c.client.Name+".learn")
			case "user":
				if id, ok := p.resolve(v, s, "user", p.res.LookupUser); ok {
					c.client.UID = &id
					matchers = append(matchers, "user "+s)
				}
			case "group":
				if id, ok := p.resolve(v, s, "group", p.res.LookupGroup); ok {
					c.client.GID = &id
					matchers = append(matchers, "group "+s)
				}
			case "profile":
				c.client.Profile, c.node = s, v
			}
		}
		if c.client.Profile == "" {
			p.errorf(e, "%s: profile is required", c.client.Name)
			continue
		}
		if len(matchers) == 0 && e.Kind == yaml.MappingNode && !p.hasKey(e, "user", "group", "container") {
			p.errorf(e, "%s: names no user, group or container; use default for every other peer", c.client.Name)
			continue
		}
		if c.client.InContainer {
			if c.client.Container != nil || !p.hasKey(e, "user", "group") {
				p.errorf(e, "%s: in_container widens a user or group entry; a container entry names containers already", c.client.Name)
				continue
			}
			matchers = append(matchers, "in containers too")
		}
		c.client.Name = fmt.Sprintf("%s (%s)", c.client.Name, strings.Join(matchers, ", "))
		out = append(out, c)
	}
	return out
}

func (p *parser) hasKey(n *yaml.Node, keys ...string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if slices.Contains(keys, n.Content[i].Value) {
			return true
		}
	}
	return false
}

// resolve accepts a number as an id, or a name the resolver knows.
func (p *parser) resolve(n *yaml.Node, s, kind string, lookup func(string) (uint32, error)) (uint32, bool) {
	id, err := ResolveID(s, lookup)
	if err != nil {
		p.errorf(n, "%s %q does not resolve: %v", kind, s, err)
		return 0, false
	}
	return id, true
}

// field is one key of a rules block: how its value is read into the
// rules. One table per block lists the keys and their handling together.
type field[R any] struct {
	key  string
	read func(p *parser, v *yaml.Node, what string, r *R)
}

func boolField[R any](key string, set func(*R, bool)) field[R] {
	return field[R]{key, func(p *parser, v *yaml.Node, what string, r *R) { set(r, p.boolean(v, what)) }}
}

func listField[R any](key string, set func(*R, []string)) field[R] {
	return field[R]{key, func(p *parser, v *yaml.Node, what string, r *R) { set(r, p.strings(v, what)) }}
}

func userField[R any](set func(*R, bool)) field[R] {
	return field[R]{"user", func(p *parser, v *yaml.Node, what string, r *R) { set(r, p.userRule(v, what)) }}
}

// block reads a rules block whose keys the table lists.
func block[R any](p *parser, n *yaml.Node, what string, fields []field[R]) R {
	var r R
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	for _, kv := range p.mapping(n, what, keys...) {
		k, v := kv[0], kv[1]
		for _, f := range fields {
			if f.key == k.Value {
				f.read(p, v, what+"."+k.Value, &r)
			}
		}
	}
	return r
}

// createFields are the keys of a profile's create: block. Absent keys
// keep the safe value; each key loosens one rule.
func createFields() []field[filter.CreateRules] {
	type R = filter.CreateRules
	return []field[R]{
		boolField("privileged", func(r *R, b bool) { r.Privileged = b }),
		{"bind_sources", func(p *parser, v *yaml.Node, what string, r *R) {
			r.BindSources = p.strings(v, what)
			for _, src := range r.BindSources {
				if err := CheckBindSource(src); err != nil {
					p.errorf(v, "%s: %v", what, err)
				}
			}
		}},
		boolField("named_volumes", func(r *R, b bool) { r.NoNamedVolumes = !b }),
		boolField("host_namespaces", func(r *R, b bool) { r.HostNamespaces = b }),
		listField("cap_add", func(r *R, l []string) { r.CapAdd = l }),
		boolField("devices", func(r *R, b bool) { r.Devices = b }),
		boolField("security_opt", func(r *R, b bool) { r.SecurityOpt = b }),
		boolField("masked_paths", func(r *R, b bool) { r.MaskedPaths = b }),
		boolField("sysctls", func(r *R, b bool) { r.Sysctls = b }),
		boolField("cgroup_parent", func(r *R, b bool) { r.CgroupParent = b }),
		listField("runtimes", func(r *R, l []string) { r.Runtimes = l }),
		boolField("group_add", func(r *R, b bool) { r.GroupAdd = b }),
		boolField("volumes_from", func(r *R, b bool) { r.VolumesFrom = b }),
		userField(func(r *R, b bool) { r.NonRootUser = b }),
		listField("images", func(r *R, l []string) { r.Images = l }),
		boolField("plugin_privileges", func(r *R, b bool) { r.PluginPrivileges = b }),
		boolField("links", func(r *R, b bool) { r.Links = b }),
		listField("log_drivers", func(r *R, l []string) { r.LogDrivers = l }),
		boolField("remote_fetch", func(r *R, b bool) { r.RemoteFetch = b }),
		boolField("writable_binds", func(r *R, b bool) { r.WritableBinds = b }),
		listField("secrets", func(r *R, l []string) { r.Secrets = l }),
		listField("configs", func(r *R, l []string) { r.Configs = l }),
	}
}

// execFields are the keys of a profile's exec: block.
func execFields() []field[filter.ExecRules] {
	type R = filter.ExecRules
	return []field[R]{
		boolField("privileged", func(r *R, b bool) { r.Privileged = b }),
		userField(func(r *R, b bool) { r.NonRootUser = b }),
		{"commands", func(p *parser, v *yaml.Node, what string, r *R) {
			r.Commands = p.strings(v, what)
			for _, c := range r.Commands {
				if !strings.HasPrefix(c, "/") {
					p.errorf(v, "%s: %q must be an absolute path (a bare name is looked up in PATH)", what, c)
				}
			}
		}},
	}
}

func (p *parser) boolean(n *yaml.Node, what string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		p.errorf(n, "%s must be true or false", what)
	}
	return b
}

func (p *parser) strings(n *yaml.Node, what string) []string {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s must be a list", what)
		return nil
	}
	var out []string
	for _, e := range n.Content {
		if s, ok := p.scalar(e, "an entry of "+what); ok {
			out = append(out, s)
		}
	}
	return out
}

// learnMode reads allow, deny or off.
func (p *parser) learnMode(n *yaml.Node, what string) filter.Learn {
	s, ok := p.scalar(n, what)
	if !ok {
		return filter.LearnInherit
	}
	mode, err := filter.ParseLearn(s)
	if err != nil {
		p.errorf(n, "%s: %v", what, err)
	}
	return mode
}

// userRule reads "any" or "non-root".
func (p *parser) userRule(n *yaml.Node, what string) bool {
	s, _ := p.scalar(n, what)
	switch s {
	case "any":
		return false
	case "non-root":
		return true
	}
	p.errorf(n, "%s must be any or non-root", what)
	return false
}

// sharedTree returns the tree a bind source lies in when the filter
// cannot judge symbolic links there: trees the service unit mounts
// privately (/tmp, /var/tmp, /dev, /home, /root, /run/user) and the
// kernel's (/proc, /sys).
func sharedTree(src string) string {
	clean := path.Clean(src)
	for _, tree := range []string{"/tmp", "/var/tmp", "/dev", "/home", "/root", "/run/user", "/proc", "/sys"} {
		if clean == tree || strings.HasPrefix(clean, tree+"/") {
			return tree
		}
	}
	return ""
}

// CheckBindSource says why a path cannot be a create rule's bind
// source, or nil when it can.
func CheckBindSource(src string) error {
	switch {
	case !strings.HasPrefix(src, "/") || src == "/":
		return fmt.Errorf("%q must be an absolute path other than /", src)
	case path.Clean(src) != strings.TrimSuffix(src, "/"):
		return fmt.Errorf("%q is not clean (\".\", \"..\" or \"//\")", src)
	}
	if under := sharedTree(src); under != "" {
		return fmt.Errorf("%q is under %s, which the service sees privately or which others write: symbolic links there cannot be judged", src, under)
	}
	return nil
}
