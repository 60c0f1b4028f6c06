package learn

import (
	"encoding/json"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/volume"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

// Facts are strings, one per thing a create or exec rule would have to
// allow: a flag ("privileged") or a prefix and a value ("bind:/srv").
// Values are paths, image references, capability, runtime and log
// driver names and exec command paths: never an environment value, an
// argument, a label or a header.
const (
	factPrivileged     = "privileged"
	factHostNamespaces = "host_namespaces"
	// factHostCgroupns is a container left in the engine's default
	// cgroup namespace, which on a cgroup v1 host is the host's.
	factHostCgroupns = "host_namespaces:engine-default-cgroupns"
	factNamedVolumes = "named_volumes"
	factDevices      = "devices"
	factSecurityOpt  = "security_opt"
	factMaskedPaths  = "masked_paths"
	factSysctls      = "sysctls"
	factCgroupParent = "cgroup_parent"
	factGroupAdd     = "group_add"
	factVolumesFrom  = "volumes_from"
	factLinks        = "links"
	factRemoteFetch  = "remote_fetch"
	factPluginPrivs  = "plugin_privileges"
	factBind         = "bind:"
	factCap          = "cap:"
	factRuntime      = "runtime:"
	factLogDriver    = "log_driver:"
	factImage        = "image:"
	// factUserRoot and factUserNonRoot count creates (and services) by
	// whether user: non-root would pass them.
	factUserRoot    = "user:any"
	factUserNonRoot = "user:non-root"

	factExecPrivileged = "exec.privileged"
	factExecCommand    = "exec.command:"
	// factExecAnyCommand is an exec that a commands list could not
	// allow: a relative command, or one that sets environment
	// variables.
	factExecAnyCommand  = "exec.command.any"
	factExecUserRoot    = "exec.user:any"
	factExecUserNonRoot = "exec.user:non-root"
)

// requestFacts lists what the rules would have to allow for the request:
// read from its body, its query and the facts its decision looked up.
// engineV1 tells whether the engine runs on cgroup v1, where its default
// cgroup namespace is the host's; asked only when the request's own
// lookups did not find out (a rule refused first), nil when unknown.
func requestFacts(req *filter.Request, d *filter.Decision, engineV1 func() bool) []string {
	var out []string
	add := func(f string) {
		if len(out) < maxFactsPerReq && !slices.Contains(out, f) && clean(f) {
			out = append(out, f)
		}
	}
	cgroupV1 := func() bool {
		if f, ok := req.Facts[filter.Lookup{Kind: filter.LookupEngine}]; ok && f.Engine != nil {
			return f.Engine.CgroupVersion != "2"
		}
		return engineV1 != nil && engineV1()
	}
	if req.Body != nil && !req.BodyTooLarge {
		bodyFacts(d.Route.Body, req.Body, cgroupV1, add)
	}
	queryFacts(d, req.RawQuery, cgroupV1, add)
	// What the operation reaches into: an existing container must pass
	// the create rules' host checks; a named volume's options bind too.
	for _, l := range slices.SortedFunc(maps.Keys(req.Facts), func(a, b filter.Lookup) int { return strings.Compare(a.String(), b.String()) }) {
		f := req.Facts[l]
		switch {
		case f.Container != nil && f.Container.HostConfig != nil:
			hostFacts(f.Container.HostConfig, true, add)
			if d.Route.Body == filter.BodyExecCreate || d.Route.Target == filter.TargetExec {
				if !filter.SetsNoNewPrivileges(f.Container.HostConfig.SecurityOpt) {
					add(factExecUserRoot)
				}
			}
		case f.Volume != nil:
			volumeFacts(f.Volume.Options, add)
		case f.Exec != nil:
			execFacts(f.Exec.Privileged, f.Exec.User, f.Exec.Command, false, add)
		}
	}
	return out
}

// clean refuses what a record must not hold: control characters.
func clean(f string) bool {
	return strings.IndexFunc(f, func(r rune) bool { return r < 0x20 || r == 0x7f }) < 0
}

func bodyFacts(kind filter.BodyKind, data []byte, cgroupV1 func() bool, add func(string)) {
	switch kind {
	case filter.BodyContainerCreate:
		var req struct {
			container.Config
			HostConfig       *container.HostConfig
			NetworkingConfig *network.NetworkingConfig
		}
		if json.Unmarshal(data, &req) != nil {
			return
		}
		add(factImage + req.Image)
		hc := req.HostConfig
		if hc == nil {
			hc = &container.HostConfig{}
		}
		if filter.IsNonRootUser(req.User) && filter.SetsNoNewPrivileges(hc.SecurityOpt) {
			add(factUserNonRoot)
		} else {
			add(factUserRoot)
		}
		hostFacts(hc, false, add)
		if hc.CgroupnsMode == "" && cgroupV1() {
			add(factHostCgroupns)
		}
		if req.NetworkingConfig != nil {
			if _, ok := req.NetworkingConfig.EndpointsConfig["host"]; ok {
				add(factHostNamespaces)
			}
		}
	case filter.BodyExecCreate:
		var req container.ExecCreateRequest
		if json.Unmarshal(data, &req) != nil {
			return
		}
		execFacts(req.Privileged, req.User, req.Cmd, len(req.Env) > 0, add)
	case filter.BodyVolumeCreate:
		var req volume.CreateRequest
		if json.Unmarshal(data, &req) != nil {
			return
		}
		volumeFacts(req.DriverOpts, add)
	case filter.BodyPluginPrivileges, filter.BodyPluginSettings:
		var list []json.RawMessage
		if json.Unmarshal(data, &list) == nil && len(list) > 0 {
			add(factPluginPrivs)
		}
	case filter.BodyService:
		var spec swarm.ServiceSpec
		if json.Unmarshal(data, &spec) != nil {
			return
		}
		serviceFacts(&spec, cgroupV1, add)
	}
}

// hostFacts lists what of a host config the create rules judge. An
// existing container's inspect shows the engine's defaults filled in,
// which the rules do not count there.
func hostFacts(hc *container.HostConfig, existing bool, add func(string)) {
	if hc.Privileged {
		add(factPrivileged)
	}
	for _, b := range hc.Binds {
		src, _, ok := strings.Cut(b, ":")
		switch {
		case !ok:
		case strings.HasPrefix(src, "/"):
			addBind(src, add)
		default:
			add(factNamedVolumes)
		}
	}
	for _, m := range hc.Mounts {
		mountFacts(m, add)
	}
	if len(hc.VolumesFrom) > 0 {
		add(factVolumesFrom)
	}
	modes := []string{string(hc.NetworkMode), string(hc.PidMode), string(hc.IpcMode), string(hc.UTSMode),
		string(hc.UsernsMode), string(hc.Cgroup)}
	if !existing || hc.CgroupnsMode != "host" {
		modes = append(modes, string(hc.CgroupnsMode))
	}
	for _, m := range modes {
		if m == "host" || strings.HasPrefix(m, "container:") {
			add(factHostNamespaces)
		}
	}
	for _, c := range hc.CapAdd {
		add(factCap + strings.TrimPrefix(strings.ToUpper(c), "CAP_"))
	}
	if len(hc.Devices) > 0 || len(hc.DeviceCgroupRules) > 0 || len(hc.DeviceRequests) > 0 {
		add(factDevices)
	}
	for _, o := range hc.SecurityOpt {
		if !filter.IsTighteningSecurityOpt(o) {
			add(factSecurityOpt)
		}
	}
	if len(hc.Sysctls) > 0 {
		add(factSysctls)
	}
	if hc.CgroupParent != "" {
		add(factCgroupParent)
	}
	if len(hc.GroupAdd) > 0 {
		add(factGroupAdd)
	}
	if len(hc.Links) > 0 {
		add(factLinks)
	}
	if existing {
		return
	}
	if hc.MaskedPaths != nil || hc.ReadonlyPaths != nil {
		add(factMaskedPaths)
	}
	if hc.Runtime != "" {
		add(factRuntime + hc.Runtime)
	}
	if d := hc.LogConfig.Type; !filter.IsLocalLogDriver(d) {
		add(factLogDriver + d)
	}
}

func mountFacts(m mount.Mount, add func(string)) {
	switch m.Type {
	case mount.TypeBind:
		addBind(m.Source, add)
	case mount.TypeVolume:
		if m.Source != "" {
			add(factNamedVolumes)
		}
		if m.VolumeOptions != nil && m.VolumeOptions.DriverConfig != nil {
			volumeFacts(m.VolumeOptions.DriverConfig.Options, add)
		}
	}
}

// volumeFacts reads the host path a local volume's options bind.
func volumeFacts(opts map[string]string, add func(string)) {
	if opts["type"] == "none" && opts["device"] != "" {
		addBind(opts["device"], add)
	}
}

// addBind records a host path as the rules read it: absolute, with a
// single trailing "/" dropped. Others the rules refuse whatever a
// policy says.
func addBind(p string, add func(string)) {
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	if strings.HasPrefix(p, "/") && path.Clean(p) == p {
		add(factBind + p)
	}
}

func execFacts(privileged bool, user string, cmd []string, env bool, add func(string)) {
	if privileged {
		add(factExecPrivileged)
	}
	if filter.IsNonRootUser(user) {
		add(factExecUserNonRoot)
	} else {
		add(factExecUserRoot)
	}
	// Only the command's path: its arguments may carry anything.
	if len(cmd) == 0 || !strings.HasPrefix(cmd[0], "/") || env {
		add(factExecAnyCommand)
	} else {
		add(factExecCommand + cmd[0])
	}
}

func serviceFacts(spec *swarm.ServiceSpec, cgroupV1 func() bool, add func(string)) {
	if cgroupV1() {
		add(factHostCgroupns)
	}
	tt := spec.TaskTemplate
	cs := tt.ContainerSpec
	if cs == nil {
		return
	}
	add(factImage + cs.Image)
	if filter.IsNonRootUser(cs.User) && cs.Privileges != nil && cs.Privileges.NoNewPrivileges {
		add(factUserNonRoot)
	} else {
		add(factUserRoot)
	}
	for _, m := range cs.Mounts {
		mountFacts(m, add)
	}
	for _, c := range cs.CapabilityAdd {
		add(factCap + strings.TrimPrefix(strings.ToUpper(c), "CAP_"))
	}
	if len(cs.Sysctls) > 0 {
		add(factSysctls)
	}
	if len(cs.Groups) > 0 {
		add(factGroupAdd)
	}
	if p := cs.Privileges; p != nil {
		if (p.Seccomp != nil && p.Seccomp.Mode != swarm.SeccompModeDefault) ||
			(p.AppArmor != nil && p.AppArmor.Mode != swarm.AppArmorModeDefault) ||
			(p.SELinuxContext != nil && *p.SELinuxContext != swarm.SELinuxContext{}) {
			add(factSecurityOpt)
		}
	}
	if tt.LogDriver != nil && !filter.IsLocalLogDriver(tt.LogDriver.Name) {
		add(factLogDriver + tt.LogDriver.Name)
	}
	for _, n := range tt.Networks {
		if n.Target == "host" {
			add(factHostNamespaces)
		}
	}
	if res := tt.Resources; res != nil && res.Reservations != nil && len(res.Reservations.GenericResources) > 0 {
		add(factDevices)
	}
}

// queryFacts lists what the query's judged parameters (and a reference
// in the path) would need.
func queryFacts(d *filter.Decision, rawQuery string, cgroupV1 func() bool, add func(string)) {
	route := d.Route
	if route.PathRef {
		if ref := route.Param(d.Target.Segments); ref != "" && !filter.DefaultRegistry(ref) {
			add(factRemoteFetch)
		}
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return
	}
	for _, prm := range route.Query {
		v := q.Get(prm.Name)
		switch prm.Judge {
		case filter.QueryBuildNetwork:
			switch v {
			case "", "default", "bridge", "none":
			default:
				add(factHostNamespaces)
			}
		case filter.QueryCgroupParent:
			if v != "" {
				add(factCgroupParent)
			}
		case filter.QueryRemoteFetch:
			if v != "" && v != "-" {
				add(factRemoteFetch)
			}
		case filter.QueryBuilderVersion:
			if v == "" || v == "1" {
				add(factRemoteFetch)
				if cgroupV1() {
					add(factHostCgroupns)
				}
			}
		case filter.QueryRegistryRef:
			if v != "" && !filter.DefaultRegistry(v) {
				add(factRemoteFetch)
			}
		}
	}
}
