package filter

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/plugin"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/volume"
)

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

// updateBody is the container update request with the fields that
// clients of API 1.41 and older still send and the API types dropped.
type updateBody struct {
	container.UpdateConfig
	KernelMemory    int64
	KernelMemoryTCP int64
}

// judgeBody decodes a judged body the way the engine does and applies the
// profile's rules to it. Errors wrap ErrBody (400: malformed or
// ambiguous) or ErrRule (403).
func (d *Decision) judgeBody(j *judging, data []byte) error {
	rules := &d.Profile.Create
	switch d.Route.Body {
	case BodyContainerCreate:
		var req createBody
		if err := DecodeBody(data, &req); err != nil {
			return err
		}
		return rules.JudgeCreate(req.request(), d.Version, j)
	case BodyExecCreate:
		var req execCreateBody
		if err := DecodeBody(data, &req); err != nil {
			return err
		}
		return d.Profile.Exec.JudgeExec(&req.ExecCreateRequest)
	case BodyVolumeCreate:
		var req volume.CreateRequest
		if err := DecodeBody(data, &req); err != nil {
			return err
		}
		return rules.JudgeVolumeCreate(&req, j)
	case BodyPluginPrivileges:
		var privileges plugin.Privileges
		if err := DecodeBody(data, &privileges); err != nil {
			return err
		}
		return rules.JudgePlugin(privileges, nil)
	case BodyPluginSettings:
		var settings []string
		if err := DecodeBody(data, &settings); err != nil {
			return err
		}
		return rules.JudgePlugin(nil, settings)
	case BodyContainerUpdate:
		var req updateBody
		if err := DecodeBody(data, &req); err != nil {
			return err
		}
		// The target's check judges the container as the update
		// leaves it.
		if req.RestartPolicy.Name != "" {
			j.restart = &req.RestartPolicy
		}
		return nil
	case BodyService:
		var spec swarm.ServiceSpec
		if err := DecodeBody(data, &spec); err != nil {
			return err
		}
		return rules.JudgeService(&spec, j)
	}
	return fmt.Errorf("%w: %s has no judge for its %s body", ErrRule, d.Route.Operation, d.Route.Body)
}

// judgeParam judges one query parameter the engine reads; value is ""
// when the request leaves it out.
func (p *Profile) judgeParam(j *judging, judge QueryJudge, name, value string) error {
	r := &p.Create
	switch judge {
	case QueryBuildNetwork:
		switch value {
		case "", "default", "bridge", "none":
			return nil
		}
		if !r.HostNamespaces {
			return refuse("build network mode %q is not allowed", value)
		}
	case QueryCgroupParent:
		if value != "" && !r.CgroupParent {
			return refuse("a build cgroup parent is not allowed")
		}
	case QueryRemoteFetch:
		// "-" reads the request body, not the network.
		if value != "" && value != "-" && !r.RemoteFetch {
			return refuse("%s makes the engine fetch %q from the host's network: not allowed (create rule remote_fetch)", name, value)
		}
	case QueryBuilderVersion:
		if value != "" && value != "1" {
			if !p.Allows("Session") {
				return refuse("builder version %q needs the BuildKit session (Session, granted by its own id)", value)
			}
			return nil
		}
		// The legacy builder fetches what the Dockerfile names (FROM
		// images, ADD URLs) itself, on the host's network, and runs each
		// step with the engine's defaults.
		if !r.RemoteFetch {
			return refuse("a build makes the engine fetch what its Dockerfile names (ADD URLs, FROM images) from the host's network: not allowed (create rule remote_fetch)")
		}
		return r.judgeHostCgroupns(j, "a build step cannot ask for a private one (host_namespaces allows it)")
	case QueryRegistryRef:
		if value != "" && !r.RemoteFetch && !defaultRegistry(value) {
			return refuse("%s %q names a registry other than Docker Hub, which the engine would reach from the host's network: not allowed (create rule remote_fetch)", name, value)
		}
	case QueryBuildOutputs:
		return p.judgeBuildOutputs(value)
	case QueryRollback:
		// A rollback restores an earlier spec, which this body does not
		// carry and the rules cannot see.
		if value != "" {
			return refuse("service rollback is not allowed")
		}
	case QueryPsArgs:
		if p.View.RedactEnv && !psArgsHideEnvironment(value) {
			return refuse("ps_args %q may print process environments, which this profile's view redacts", value)
		}
	}
	return nil
}

// judgeBuildOutputs gates the ways a build's result leaves the engine as
// the operations that send an image out are gated: exported to the
// client (local, tar, oci, docker), it is what ImageGet sends; pushed,
// what ImagePush sends, to registries its names and tags choose, which
// this parameter does not show (so a push also needs remote_fetch). Into
// the engine's own images (moby, image) or nowhere (cacheonly) it stays.
func (p *Profile) judgeBuildOutputs(value string) error {
	if value == "" {
		return nil
	}
	var outputs []struct {
		Type  string
		Attrs map[string]string
	}
	if err := DecodeBody([]byte(value), &outputs); err != nil {
		return fmt.Errorf("outputs: %w", err)
	}
	for _, o := range outputs {
		push := false
		for k, v := range o.Attrs {
			if strings.EqualFold(k, "push") {
				b, err := strconv.ParseBool(v)
				push = b || err != nil
			}
		}
		switch o.Type {
		case "moby", "image", "cacheonly":
		case "registry":
			push = true
		case "local", "tar", "oci", "docker":
			if !p.Allows("ImageGet") {
				return refuse("build output %q sends the built image to the client, as ImageGet does, which this profile does not allow", o.Type)
			}
		default:
			return refuse("build output type %q is not allowed", o.Type)
		}
		if push && (!p.Allows("ImagePush") || !p.Create.RemoteFetch) {
			return refuse("build output %q pushes the built image, as ImagePush does, to registries its names choose: it needs ImagePush and create rule remote_fetch", o.Type)
		}
	}
	return nil
}

// defaultRegistry reports a reference to Docker Hub: no registry host
// (a first component without '.' or ':' that is not "localhost"), or one
// of Docker Hub's own names.
func defaultRegistry(ref string) bool {
	first, _, hasSlash := strings.Cut(ref, "/")
	if !hasSlash || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		return true
	}
	switch strings.ToLower(first) {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return true
	}
	return false
}

// psArgsHideEnvironment accepts the host ps options that cannot print a
// process's environment: UNIX-style selections and the formats below.
// BSD-style options (no dash) may hold 'e', which prints environments, and
// procps reads some dashed clusters as BSD ones ("-aux" is "aux" when no
// user x exists): only known clusters pass.
func psArgsHideEnvironment(args string) bool {
	fields := strings.Fields(args)
	for i := 0; i < len(fields); i++ {
		switch f := fields[i]; f {
		case "-e", "-f", "-ef", "-fe", "-F", "-eF", "-A", "-a", "-l", "-el", "-ely", "-elf", "-j", "-ej", "-H", "-eH", "-T", "-L", "-eL", "-efL", "-w", "-ww", "aux", "ax", "auxww", "axww":
		case "-o", "-O", "o", "O":
			if i+1 == len(fields) || !safePsFormat(fields[i+1]) {
				return false
			}
			i++
		default:
			return false
		}
	}
	return true
}

// safePsFormat accepts a ps format list of fields that show no
// environment.
func safePsFormat(list string) bool {
	for f := range strings.SplitSeq(list, ",") {
		name, _, _ := strings.Cut(f, "=")
		switch name {
		case "pid", "ppid", "pgid", "sid", "tid", "lwp", "nlwp", "user", "euser", "ruser", "uid", "euid", "ruid",
			"gid", "egid", "group", "comm", "args", "cmd", "command", "etime", "etimes", "time", "stat", "state",
			"tty", "pcpu", "%cpu", "pmem", "%mem", "rss", "vsz", "sz", "start", "lstart", "stime", "ni", "pri",
			"psr", "wchan", "c", "f", "s":
		default:
			return false
		}
	}
	return true
}
