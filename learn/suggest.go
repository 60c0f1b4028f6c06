package learn

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/docker-socket-filter/docker-socket-filter/config"
	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

// need is what one caller did within the window a suggestion covers.
type need struct {
	caller *Caller
	ops    map[string]*Op
	facts  map[string]*Seen
	first  time.Time
	last   time.Time
}

// needs selects, for each caller, the operations and facts last seen at
// or after since (every one for a zero since); callers with none are
// left out.
func needs(s *State, since time.Time) []*need {
	var out []*need
	for _, c := range s.Clone().Callers {
		n := &need{caller: c, ops: make(map[string]*Op), facts: make(map[string]*Seen)}
		for name, op := range c.Ops {
			if !op.Last.Before(since) {
				n.ops[name] = op
				if n.first.IsZero() || op.First.Before(n.first) {
					n.first = op.First
				}
				if op.Last.After(n.last) {
					n.last = op.Last
				}
			}
		}
		for name, f := range c.Facts {
			if !f.Last.Before(since) {
				n.facts[name] = f
			}
		}
		if len(n.ops) > 0 {
			out = append(out, n)
		}
	}
	return out
}

// Clone returns a deep copy of the records, callers sorted by uid.
func (s *State) Clone() *State { return s.clone() }

func (n *need) has(fact string) bool { _, ok := n.facts[fact]; return ok }

// valued lists the values of the facts with a prefix, sorted.
func (n *need) valued(prefix string) []string {
	var out []string
	for f := range n.facts {
		if v, ok := strings.CutPrefix(f, prefix); ok {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

func (n *need) sawAny(ops ...string) bool {
	for _, op := range ops {
		if n.ops[op] != nil {
			return true
		}
	}
	return false
}

// creates reports operations whose bodies the user, image and named
// volume rules judge: only then can those rules be narrowed.
func (n *need) creates() bool {
	return n.sawAny("ContainerCreate", "ServiceCreate", "ServiceUpdate")
}

func (n *need) execs() bool { return n.sawAny("ContainerExec", "ExecStart") }

// Note is something a suggestion could not grant, said in a comment.
type note struct{ key, text string }

// widenCreate loosens rules until they allow what the caller did; it
// returns the keys it changed and what it could not allow.
func widenCreate(r *filter.CreateRules, n *need) (changed []string, notes []note) {
	set := func(key string, b *bool, want bool) {
		if *b != want {
			*b = want
			changed = append(changed, key)
		}
	}
	flags := []struct {
		fact string
		b    *bool
	}{
		{factPrivileged, &r.Privileged}, {factHostNamespaces, &r.HostNamespaces}, {factDevices, &r.Devices},
		{factSecurityOpt, &r.SecurityOpt}, {factMaskedPaths, &r.MaskedPaths}, {factSysctls, &r.Sysctls},
		{factCgroupParent, &r.CgroupParent}, {factGroupAdd, &r.GroupAdd}, {factVolumesFrom, &r.VolumesFrom},
		{factLinks, &r.Links}, {factRemoteFetch, &r.RemoteFetch}, {factPluginPrivs, &r.PluginPrivileges},
	}
	for _, f := range flags {
		if n.has(f.fact) {
			set(f.fact, f.b, true)
		}
	}
	if n.has(factHostCgroupns) {
		set(factHostNamespaces, &r.HostNamespaces, true)
	}
	if n.has(factNamedVolumes) {
		set(factNamedVolumes, &r.NoNamedVolumes, false)
	}
	for _, b := range n.valued(factBind) {
		if r.Covers(b) {
			continue
		}
		if err := config.CheckBindSource(b); err != nil {
			notes = append(notes, note{"bind_sources", "not granted: " + err.Error()})
			continue
		}
		r.BindSources = append(r.BindSources, b)
		changed = appendKey(changed, "bind_sources")
	}
	for _, c := range n.valued(factCap) {
		if !r.AllowsCap(c) {
			r.CapAdd = append(r.CapAdd, c)
			changed = appendKey(changed, "cap_add")
		}
	}
	for _, rt := range n.valued(factRuntime) {
		if !slices.Contains(r.Runtimes, rt) {
			r.Runtimes = append(r.Runtimes, rt)
			changed = appendKey(changed, "runtimes")
		}
	}
	for _, d := range n.valued(factLogDriver) {
		if !slices.Contains(r.LogDrivers, d) {
			r.LogDrivers = append(r.LogDrivers, d)
			changed = appendKey(changed, "log_drivers")
		}
	}
	if r.NonRootUser && n.has(factUserRoot) {
		set("user", &r.NonRootUser, false)
	}
	if len(r.Images) > 0 {
		for _, img := range n.valued(factImage) {
			if r.AllowsImage(img) {
				continue
			}
			if !literalImage(img) {
				r.Images = nil
				changed = appendKey(changed, "images")
				notes = append(notes, note{"images", fmt.Sprintf("any image: %q cannot be listed as a pattern", img)})
				break
			}
			r.Images = append(r.Images, img)
			changed = appendKey(changed, "images")
		}
	}
	return changed, notes
}

func appendKey(keys []string, k string) []string {
	if slices.Contains(keys, k) {
		return keys
	}
	return append(keys, k)
}

// literalImage accepts a reference that matches only itself as an images
// pattern.
func literalImage(img string) bool { return img != "" && !strings.ContainsAny(img, `*?[\`) }

// narrowCreate is the narrowest create rules for what the caller did.
func narrowCreate(n *need) (filter.CreateRules, []note) {
	var r filter.CreateRules
	if n.creates() {
		r.NoNamedVolumes = true
		r.NonRootUser = n.has(factUserNonRoot) && !n.has(factUserRoot)
		if imgs := n.valued(factImage); len(imgs) > 0 && n.caller.DroppedFacts == 0 && !slices.ContainsFunc(imgs, func(s string) bool { return !literalImage(s) }) {
			r.Images = imgs
		}
	}
	_, notes := widenCreate(&r, n)
	return r, notes
}

func widenExec(r *filter.ExecRules, n *need) (changed []string) {
	if n.has(factExecPrivileged) && !r.Privileged {
		r.Privileged = true
		changed = append(changed, "privileged")
	}
	if r.NonRootUser && n.has(factExecUserRoot) {
		r.NonRootUser = false
		changed = append(changed, "user")
	}
	if len(r.Commands) > 0 {
		if n.has(factExecAnyCommand) {
			r.Commands = nil
			return append(changed, "commands")
		}
		for _, c := range n.valued(factExecCommand) {
			if !slices.Contains(r.Commands, c) {
				r.Commands = append(r.Commands, c)
				changed = appendKey(changed, "commands")
			}
		}
	}
	return changed
}

func narrowExec(n *need) filter.ExecRules {
	var r filter.ExecRules
	r.NonRootUser = n.has(factExecUserNonRoot) && !n.has(factExecUserRoot)
	if !n.has(factExecAnyCommand) {
		r.Commands = n.valued(factExecCommand)
	}
	widenExec(&r, n)
	return r
}

// Options configure a suggestion.
type SuggestOptions struct {
	// Since leaves out what was last seen before it (zero: nothing).
	Since time.Time
	// Source names the records in the header comment.
	Source string
	// Resolver checks the suggestion as check would.
	Resolver config.Resolver
}

// Suggest writes the narrowest policy file that allows what the
// recorded callers did: a profile and a client entry per caller, the
// default none. The text is checked as `check` would before it is
// returned.
func Suggest(s *State, table *filter.RouteTable, o SuggestOptions) ([]byte, error) {
	ns := needs(s, o.Since)
	profiles := mapping()
	clients := &yaml.Node{Kind: yaml.SequenceNode}
	used := map[string]bool{}
	for _, n := range ns {
		name := profileName(n.caller, used)
		key, prof := profileNode(name, n, table)
		profiles.Content = append(profiles.Content, key, prof)
		clients.Content = append(clients.Content, clientNode(n.caller, name))
	}
	doc := mapping()
	doc.HeadComment = header(ns, o)
	if len(ns) > 0 {
		addPair(doc, "profiles", profiles, "")
		addPair(doc, "clients", clients, "")
	}
	addPair(doc, "default", scalar(filter.NoProfile), "every caller not listed is denied everything")
	return render(doc, table, o.Resolver)
}

func render(doc *yaml.Node, table *filter.RouteTable, res config.Resolver) ([]byte, error) {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{doc}}); err != nil {
		return nil, fmt.Errorf("suggest: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("suggest: %w", err)
	}
	out := []byte(b.String())
	if _, err := config.Parse("suggested policy", out, table, res); err != nil {
		return out, fmt.Errorf("suggest: the suggestion does not pass check: %w", err)
	}
	return out, nil
}

func header(ns []*need, o SuggestOptions) string {
	lines := []string{"Suggested by docker-socket-filter suggest from " + o.Source}
	var first, last time.Time
	for _, n := range ns {
		if first.IsZero() || n.first.Before(first) {
			first = n.first
		}
		if n.last.After(last) {
			last = n.last
		}
	}
	window := "all records"
	if !o.Since.IsZero() {
		window = "since " + stamp(o.Since)
	}
	if len(ns) == 0 {
		lines = append(lines, "("+window+"): no learning caller was seen; this policy denies everyone.")
	} else {
		lines = append(lines, fmt.Sprintf("(%s): %d callers, seen from %s to %s.", window, len(ns), stamp(first), stamp(last)))
	}
	lines = append(lines, "Each profile allows what its caller did, and no more: review it before serving it.")
	return strings.Join(lines, "\n")
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func seenText(s Seen) string {
	if s.Count == 1 || s.First.Equal(s.Last) {
		return fmt.Sprintf("%dx at %s", s.Count, stamp(s.Last))
	}
	return fmt.Sprintf("%dx, first %s, last %s", s.Count, stamp(s.First), stamp(s.Last))
}

// profileName names a caller's profile after its user, else its uid.
func profileName(c *Caller, used map[string]bool) string {
	name := c.User
	if c.Container != nil {
		name = c.Container.Name
	}
	if name == "" || name == filter.NoProfile || strings.HasPrefix(name, filter.PresetPrefix) || !plainName(name) {
		name = "uid-" + strconv.FormatUint(uint64(c.UID), 10)
	}
	for i := 2; used[name]; i++ {
		name = fmt.Sprintf("%s-%d", strings.TrimSuffix(name, "-"+strconv.Itoa(i-1)), i)
	}
	used[name] = true
	return name
}

func plainName(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) < 0
}

func profileNode(name string, n *need, table *filter.RouteTable) (*yaml.Node, *yaml.Node) {
	key := scalar(name)
	c := n.caller
	key.HeadComment = fmt.Sprintf("uid %d%s: %s; in force it had profile %s (%s)",
		c.UID, userSuffix(c), seenRange(n), c.Profile, c.Rule)
	prof := mapping()
	addPair(prof, "allow", allowNode(table, n.ops), "")
	create, notes := narrowCreate(n)
	if cn := createNode(create, n); len(cn.Content) > 0 || len(notes) > 0 {
		if len(cn.Content) == 0 {
			cn.Style = yaml.FlowStyle
		}
		addPair(prof, "create", cn, notesText(notes))
	}
	if n.execs() {
		if en := execNode(narrowExec(n), n); len(en.Content) > 0 {
			addPair(prof, "exec", en, "")
		}
	}
	if v := c.View; v != nil {
		if v.RedactEnv {
			addPair(prof, "redact", seq(scalar("env")), "as the profile in force")
		}
		if v.VisibleIfLabel != "" {
			addPair(prof, "visible_if_label", scalar(v.VisibleIfLabel), "as the profile in force")
		}
	}
	return key, prof
}

func notesText(notes []note) string {
	var parts []string
	for _, n := range notes {
		parts = append(parts, n.key+": "+n.text)
	}
	return strings.Join(parts, "; ")
}

func userSuffix(c *Caller) string {
	if c.User == "" {
		return ""
	}
	return " (" + c.User + ")"
}

func seenRange(n *need) string {
	var total uint64
	for _, op := range n.ops {
		total += op.Count
	}
	return fmt.Sprintf("%d calls from %s to %s", total, stamp(n.first), stamp(n.last))
}

// allowNode lists the operations seen: a group where the caller used
// every operation it names, each other by its id. Groups never name
// sensitive operations, which are therefore always listed by id.
func allowNode(table *filter.RouteTable, ops map[string]*Op) *yaml.Node {
	left := maps.Clone(ops)
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for _, section := range filter.Sections() {
		for _, group := range []string{section, section + ":read", section + ":write"} {
			members, err := table.Expand(group)
			if err != nil || len(members) == 0 {
				continue
			}
			all := true
			for _, m := range members {
				if left[m] == nil {
					all = false
					break
				}
			}
			if !all {
				continue
			}
			var total Seen
			for _, m := range members {
				total.merge(left[m].Seen)
				delete(left, m)
			}
			e := scalar(group)
			e.LineComment = fmt.Sprintf("%s: %s", strings.Join(members, ", "), seenText(total))
			list.Content = append(list.Content, e)
		}
	}
	for _, op := range slices.Sorted(maps.Keys(left)) {
		e := scalar(op)
		e.LineComment = opText(left[op])
		list.Content = append(list.Content, e)
	}
	return list
}

func opText(op *Op) string {
	s := seenText(op.Seen)
	if len(op.WouldDeny) > 0 {
		var parts []string
		for _, step := range slices.Sorted(maps.Keys(op.WouldDeny)) {
			parts = append(parts, fmt.Sprintf("%s %d", step, op.WouldDeny[step]))
		}
		s += "; the policy in force would deny (" + strings.Join(parts, ", ") + ")"
	}
	if op.Denied > 0 {
		s += fmt.Sprintf("; denied %d", op.Denied)
	}
	return s
}

// createNode writes the create rules that differ from the safe default,
// each with how often what needs it was seen.
func createNode(r filter.CreateRules, n *need) *yaml.Node {
	m := mapping()
	flag := func(key, fact string, on bool) {
		if on {
			addPair(m, key, boolNode(true), factText(n, fact))
		}
	}
	flag("privileged", factPrivileged, r.Privileged)
	if len(r.BindSources) > 0 {
		addPair(m, "bind_sources", listNode(r.BindSources, n, factBind), "")
	}
	if r.NoNamedVolumes {
		addPair(m, "named_volumes", boolNode(false), "no named volume was used")
	}
	if r.HostNamespaces {
		why := factText(n, factHostNamespaces)
		if s := factText(n, factHostCgroupns); s != "" {
			if why != "" {
				why += "; "
			}
			why += "the engine's default cgroup namespace, the host's on this cgroup v1 host: " + s
		}
		addPair(m, "host_namespaces", boolNode(true), why)
	}
	if len(r.CapAdd) > 0 {
		addPair(m, "cap_add", listNode(r.CapAdd, n, factCap), "")
	}
	flag("devices", factDevices, r.Devices)
	flag("security_opt", factSecurityOpt, r.SecurityOpt)
	flag("masked_paths", factMaskedPaths, r.MaskedPaths)
	flag("sysctls", factSysctls, r.Sysctls)
	flag("cgroup_parent", factCgroupParent, r.CgroupParent)
	if len(r.Runtimes) > 0 {
		addPair(m, "runtimes", listNode(r.Runtimes, n, factRuntime), "")
	}
	flag("group_add", factGroupAdd, r.GroupAdd)
	flag("volumes_from", factVolumesFrom, r.VolumesFrom)
	if r.NonRootUser {
		addPair(m, "user", scalar("non-root"), "every container ran as a non-root uid:gid with no-new-privileges: "+factText(n, factUserNonRoot))
	}
	if len(r.Images) > 0 {
		addPair(m, "images", listNode(r.Images, n, factImage), "")
	}
	flag("plugin_privileges", factPluginPrivs, r.PluginPrivileges)
	flag("links", factLinks, r.Links)
	if len(r.LogDrivers) > 0 {
		addPair(m, "log_drivers", listNode(r.LogDrivers, n, factLogDriver), "")
	}
	flag("remote_fetch", factRemoteFetch, r.RemoteFetch)
	return m
}

func execNode(r filter.ExecRules, n *need) *yaml.Node {
	m := mapping()
	if r.Privileged {
		addPair(m, "privileged", boolNode(true), factText(n, factExecPrivileged))
	}
	if r.NonRootUser {
		addPair(m, "user", scalar("non-root"), "every exec ran as a non-root uid:gid: "+factText(n, factExecUserNonRoot))
	}
	if len(r.Commands) > 0 {
		addPair(m, "commands", listNode(r.Commands, n, factExecCommand), "")
	}
	return m
}

func factText(n *need, fact string) string {
	if s := n.facts[fact]; s != nil {
		return seenText(*s)
	}
	return ""
}

func listNode(values []string, n *need, prefix string) *yaml.Node {
	l := &yaml.Node{Kind: yaml.SequenceNode}
	for _, v := range values {
		e := scalar(v)
		e.LineComment = factText(n, prefix+v)
		l.Content = append(l.Content, e)
	}
	return l
}

// clientNode names the caller the way the filter recognises it: a
// container by its name (and its compose service, when it has one); a host
// process by uid, written as the user's name when it has one; a process in
// a container the filter could not name by uid with in_container.
func clientNode(c *Caller, profile string) *yaml.Node {
	m := mapping()
	if ct := c.Container; ct != nil {
		match := mapping()
		addPair(match, "name", scalar(ct.Name), "")
		if svc := ct.Labels[composeService]; svc != "" {
			addPair(match, "label", scalar(composeService+"="+svc), "")
		}
		addPair(m, "container", match, "image "+ct.Image)
		addPair(m, "profile", scalar(profile), "")
		return m
	}
	user := strconv.FormatUint(uint64(c.UID), 10)
	comment := ""
	if c.User != "" && plainName(c.User) {
		user, comment = c.User, "uid "+strconv.FormatUint(uint64(c.UID), 10)
	}
	addPair(m, "user", scalar(user), comment)
	if c.Contained {
		addPair(m, "in_container", boolNode(true), "seen in a container the filter could not name: root there may take any uid")
	}
	addPair(m, "profile", scalar(profile), "")
	return m
}

// composeService is the label compose gives a container: the service's name.
const composeService = "com.docker.compose.service"

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func boolNode(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func seq(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: items}
}

func addPair(m *yaml.Node, key string, v *yaml.Node, comment string) {
	k := scalar(key)
	if comment != "" {
		if v.Kind == yaml.ScalarNode || v.Style == yaml.FlowStyle {
			v.LineComment = comment
		} else {
			k.LineComment = comment
		}
	}
	m.Content = append(m.Content, k, v)
}
