package filter

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// NewProfile builds a profile from allow entries. An entry is an operation
// id ("ContainerList") or a group named after a section: "containers:read"
// (its GET and HEAD operations), "containers:write" (the others), or
// "containers" (both). Groups never include sensitive or explicit
// operations; those are granted by their own id only.
func NewProfile(table *RouteTable, name string, entries []string) (*Profile, error) {
	p := &Profile{Name: name, allow: make(map[string]bool)}
	var errs []error
	for _, e := range entries {
		ops, err := table.Expand(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, op := range ops {
			p.allow[op] = true
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// Expand returns the operations an allow entry names.
func (t *RouteTable) Expand(entry string) ([]string, error) {
	if r := t.byOp[entry]; r != nil {
		return []string{r.Operation}, nil
	}
	section, access, hasAccess := strings.Cut(entry, ":")
	if !slices.Contains(Sections(), section) {
		return nil, fmt.Errorf("%q is neither an operation id nor a group (<section>, <section>:read, <section>:write)", entry)
	}
	wantRead, wantWrite := true, true
	if hasAccess {
		switch access {
		case "read":
			wantWrite = false
		case "write":
			wantRead = false
		default:
			return nil, fmt.Errorf("group %q: access must be read or write", entry)
		}
	}
	var ops []string
	for i := range t.routes {
		r := &t.routes[i]
		if r.Section != section || r.Sensitive || r.Explicit {
			continue
		}
		if (r.IsWrite() && wantWrite) || (!r.IsWrite() && wantRead) {
			ops = append(ops, r.Operation)
		}
	}
	return ops, nil
}
