package filter

import (
	"errors"
	"fmt"
	"slices"

	"github.com/moby/moby/api/types/container"
)

// LookupKind names a fact about the world outside the request that a rule
// needs: the decision asks for it, the caller of Decide (the proxy, or
// explain) finds it out, and Decide is asked again with the answer.
type LookupKind uint8

const (
	// LookupContainer inspects a container by name, id or id prefix.
	LookupContainer LookupKind = iota + 1
	// LookupExec inspects an exec instance by id.
	LookupExec
	// LookupNetwork inspects a network as the engine resolves a
	// reference to it: full id, name, or unique id prefix.
	LookupNetwork
	// LookupVolume inspects a named volume.
	LookupVolume
	// LookupHostPath resolves a host path as the kernel will when it
	// mounts it: symbolic links followed component by component.
	LookupHostPath
	// LookupEngine reads the engine's own settings that decide its
	// defaults (its cgroup version).
	LookupEngine
	// LookupSecret and LookupConfig inspect a swarm secret or config by
	// the id a service names it by.
	LookupSecret
	LookupConfig
)

func (k LookupKind) String() string {
	names := [...]string{
		LookupContainer: "container", LookupExec: "exec", LookupNetwork: "network",
		LookupVolume: "volume", LookupHostPath: "host path", LookupEngine: "engine",
		LookupSecret: "secret", LookupConfig: "config",
	}
	if int(k) < len(names) && names[k] != "" {
		return names[k]
	}
	return fmt.Sprintf("lookup(%d)", uint8(k))
}

// Lookup is one fact a decision asks for.
type Lookup struct {
	Kind LookupKind
	Ref  string // the object's reference or the path; "" for LookupEngine
}

func (l Lookup) String() string {
	if l.Ref == "" {
		return l.Kind.String()
	}
	return l.Kind.String() + " " + l.Ref
}

// Fact is the answer to one Lookup. Exactly one of the pointers is set for
// an object that exists; Missing says the engine has no such object; Err
// says the lookup itself failed, which refuses the request.
type Fact struct {
	Err     error
	Missing bool

	Container *ContainerFact
	Exec      *ExecFact
	Network   *NetworkFact
	Volume    *VolumeFact
	Engine    *EngineFact
	Swarm     *SwarmObjectFact // a secret or config
	// Path is a resolved host path, and Submounts says mounts lie
	// beneath it.
	Path      string
	Submounts bool
}

// ContainerFact is what an inspect shows of a container.
type ContainerFact struct {
	ID         string
	HostConfig *container.HostConfig
}

// ExecFact is what an inspect shows of an exec instance.
type ExecFact struct {
	ContainerID string
	Privileged  bool
	User        string
	Command     []string // entrypoint and arguments
}

// NetworkFact is what an inspect shows of a network.
type NetworkFact struct {
	ID, Name, Driver string
}

// VolumeFact is what an inspect shows of a volume.
type VolumeFact struct {
	Driver  string
	Options map[string]string
}

// SwarmObjectFact is what an inspect shows of a swarm secret or config:
// the id the swarm keeps it under and the name its spec gives it.
type SwarmObjectFact struct {
	ID, Name string
}

// EngineFact holds the engine settings that decide its defaults.
type EngineFact struct {
	// CgroupVersion is "1" or "2": on cgroup v1 hosts the engine's
	// default cgroup namespace is the host's.
	CgroupVersion string
}

// Facts are the answers to a decision's lookups.
type Facts map[Lookup]Fact

// ErrLookup is wrapped by refusals whose lookup failed: the filter could
// not find out what it needed, so the request is refused (502).
var ErrLookup = errors.New("lookup failed")

// ErrMissing matches refusals of a request whose target does not exist
// (404, as the engine would answer).
var ErrMissing = errors.New("no such object")

// missingError says, as the engine would, which object does not exist.
type missingError string

func (e missingError) Error() string        { return string(e) }
func (e missingError) Is(target error) bool { return target == ErrMissing }

// judging collects the lookups that judging a request needs and has not
// got yet. Rules that meet a missing fact skip what depends on it; the
// decision is then pending, never allowed, until every fact is in.
type judging struct {
	facts   Facts
	missing []Lookup
	// restart is the restart policy an update gives its target.
	restart *container.RestartPolicy
}

// fact returns a lookup's answer. ok is false when it is not known yet
// (the lookup is recorded) or when the object does not exist; err is set
// when the lookup failed.
func (j *judging) fact(kind LookupKind, ref string) (f Fact, ok bool, err error) {
	l := Lookup{kind, ref}
	f, known := j.facts[l]
	if !known {
		if !slices.Contains(j.missing, l) {
			j.missing = append(j.missing, l)
		}
		return Fact{}, false, nil
	}
	if f.Err != nil {
		return f, false, fmt.Errorf("%w: %s: %w", ErrLookup, l, f.Err)
	}
	return f, !f.Missing, nil
}
