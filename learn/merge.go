package learn

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/docker-socket-filter/docker-socket-filter/config"
	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

// Merge folds what the records show into an existing policy file,
// widening it only where a caller needed more than its profile in force
// gives: operations are added to its allow list and create or exec rules
// loosened key by key, with comments saying why. A profile of the file
// is widened in place (for every caller that uses it); a caller whose
// profile is none or a preset named directly gets a profile of its own
// (extending the preset) and a client entry ahead of the others.
// Everything else in the file, comments included, is kept.
func Merge(s *State, existing []byte, name string, table *filter.RouteTable, o SuggestOptions) ([]byte, error) {
	f, err := config.Parse(name, existing, table, o.Resolver)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(existing, &doc); err != nil {
		return nil, fmt.Errorf("merge: %s: %w", name, err)
	}
	root := doc.Content[0]
	used := map[string]bool{}
	for _, p := range f.Policy.Profiles() {
		used[p.Name] = true
	}
	var newClients []*yaml.Node
	for _, n := range needs(s, o.Since) {
		c := n.caller
		prof, rule := f.Policy.ProfileFor(c.filterCaller())
		if own := fileProfile(root, prof); own != nil {
			widenInPlace(own, prof, n, fmt.Sprintf("uid %d%s (%s)", c.UID, userSuffix(c), rule))
			continue
		}
		pname := profileName(c, used)
		var key, pn *yaml.Node
		if prof == nil {
			key, pn = profileNode(pname, n, table)
		} else {
			key, pn = extendNode(pname, prof, n, rule)
			if key == nil {
				continue
			}
		}
		profiles := child(root, "profiles", mapping)
		profiles.Content = append(profiles.Content, key, pn)
		newClients = append(newClients, clientNode(c, pname))
	}
	if len(newClients) > 0 {
		clients := child(root, "clients", func() *yaml.Node { return &yaml.Node{Kind: yaml.SequenceNode} })
		// Ahead of the entry that matched them before.
		clients.Content = append(newClients, clients.Content...)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	out := b.Bytes()
	if _, err := config.Parse("merged policy", out, table, o.Resolver); err != nil {
		return out, fmt.Errorf("merge: the merged policy does not pass check: %w", err)
	}
	return out, nil
}

// fileProfile returns the mapping of the file's own profile prof, nil
// for none and for presets named directly.
func fileProfile(root *yaml.Node, prof *filter.Profile) *yaml.Node {
	if prof == nil {
		return nil
	}
	profiles := lookup(root, "profiles")
	if profiles == nil {
		return nil
	}
	return lookup(profiles, prof.Name)
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// child returns the value under key, adding it (made by mk) if missing.
func child(m *yaml.Node, key string, mk func() *yaml.Node) *yaml.Node {
	if v := lookup(m, key); v != nil {
		return v
	}
	v := mk()
	m.Content = append(m.Content, scalar(key), v)
	return v
}

// missingOps lists the operations seen that prof does not grant.
func missingOps(prof *filter.Profile, n *need) map[string]*Op {
	out := map[string]*Op{}
	for op, seen := range n.ops {
		if !prof.Allows(op) {
			out[op] = seen
		}
	}
	return out
}

func widenInPlace(pn *yaml.Node, prof *filter.Profile, n *need, who string) {
	ops := missingOps(prof, n)
	if len(ops) > 0 {
		allow := child(pn, "allow", func() *yaml.Node { return &yaml.Node{Kind: yaml.SequenceNode} })
		toBlock(pn, "allow", allow)
		for _, op := range slices.Sorted(maps.Keys(ops)) {
			e := scalar(op)
			e.LineComment = "added for " + who + ": " + opText(ops[op])
			allow.Content = append(allow.Content, e)
		}
	}
	create := prof.Create
	changed, notes := widenCreate(&create, n)
	if len(changed) > 0 || len(notes) > 0 {
		rendered := createNode(create, n)
		replaceKeys(pn, "create", rendered, changed, "widened for "+who+notesSuffix(notes))
	}
	exec := prof.Exec
	if changed := widenExec(&exec, n); len(changed) > 0 {
		rendered := execNode(exec, n)
		replaceKeys(pn, "exec", rendered, changed, "widened for "+who)
	}
}

func notesSuffix(notes []note) string {
	if len(notes) == 0 {
		return ""
	}
	return "; " + notesText(notes)
}

// replaceKeys sets, in the profile's block, the keys that changed to
// their rendered values (removing those the rendering drops, which are
// back at their defaults). A missing block is written whole: for a
// profile that extends a preset, setting a block replaces the preset's.
func replaceKeys(pn *yaml.Node, block string, rendered *yaml.Node, changed []string, comment string) {
	b := lookup(pn, block)
	if b == nil {
		addPair(pn, block, rendered, comment)
		return
	}
	if b.Kind != yaml.MappingNode {
		return
	}
	toBlock(pn, block, b)
	for _, key := range changed {
		nv := lookup(rendered, key)
		idx := -1
		for i := 0; i+1 < len(b.Content); i += 2 {
			if b.Content[i].Value == key {
				idx = i
			}
		}
		switch {
		case nv == nil && idx >= 0:
			b.Content = slices.Delete(b.Content, idx, idx+2)
		case nv == nil:
		case idx >= 0:
			b.Content[idx+1] = nv
			b.Content[idx].LineComment = comment
		default:
			k := scalar(key)
			k.LineComment = comment
			b.Content = append(b.Content, k, nv)
		}
	}
}

// toBlock writes a flow collection in block style, which can carry a
// comment per entry; its own comment moves to its key.
func toBlock(m *yaml.Node, key string, v *yaml.Node) {
	if v.Style&yaml.FlowStyle == 0 {
		return
	}
	v.Style = 0
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Value == key && v.LineComment != "" {
			k.LineComment, v.LineComment = v.LineComment, ""
		}
	}
}

// extendNode writes a profile for a caller whose profile in force is a
// preset named directly: it extends the preset with what was missing.
func extendNode(name string, prof *filter.Profile, n *need, rule string) (*yaml.Node, *yaml.Node) {
	ops := missingOps(prof, n)
	create, exec := prof.Create, prof.Exec
	cc, notes := widenCreate(&create, n)
	ec := widenExec(&exec, n)
	if len(ops) == 0 && len(cc) == 0 && len(ec) == 0 {
		return nil, nil
	}
	c := n.caller
	key := scalar(name)
	key.HeadComment = fmt.Sprintf("uid %d%s: %s; in force it had %s (%s), which this extends with what it lacked",
		c.UID, userSuffix(c), seenRange(n), prof.Name, rule)
	pn := mapping()
	addPair(pn, "extends", scalar(prof.Name), "")
	if len(ops) > 0 {
		allow := &yaml.Node{Kind: yaml.SequenceNode}
		for _, op := range slices.Sorted(maps.Keys(ops)) {
			e := scalar(op)
			e.LineComment = opText(ops[op])
			allow.Content = append(allow.Content, e)
		}
		addPair(pn, "allow", allow, "")
	}
	if len(cc) > 0 {
		addPair(pn, "create", createNode(create, n), "the preset's, widened"+notesSuffix(notes))
	}
	if len(ec) > 0 {
		addPair(pn, "exec", execNode(exec, n), "the preset's, widened")
	}
	return key, pn
}
