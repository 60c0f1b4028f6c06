package filter

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/plugin"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/volume"
)

// CreateRules constrain ContainerCreate bodies. The zero value is the safe
// set: no privileged mode, no host binds, no host namespaces, no added
// capabilities, no devices, no weakened security options, no masked or
// read-only path overrides, no sysctls, no cgroup parent, no other runtime,
// no added groups, no volumes from other containers, any image, any user.
// Each field loosens one thing, explicitly.
type CreateRules struct {
	Privileged     bool
	BindSources    []string // host path prefixes a bind may come from
	NoNamedVolumes bool     // refuse named volumes
	HostNamespaces bool     // pid, ipc, uts, userns, cgroupns, network: host or container:<id>
	CapAdd         []string // capabilities that may be added, without CAP_ ("ALL" for any)
	Devices        bool     // devices, device cgroup rules, device requests
	SecurityOpt    bool     // seccomp/apparmor unconfined, label=disable, custom profiles
	MaskedPaths    bool     // overriding masked and read-only paths
	Sysctls        bool
	CgroupParent   bool
	Runtimes       []string // runtimes other than the engine's default
	GroupAdd       bool
	VolumesFrom    bool
	NonRootUser    bool     // the container must run as a user other than root
	Images         []string // image reference patterns (path.Match); empty allows any

	Links      bool     // legacy links, which copy the linked container's environment
	LogDrivers []string // log drivers beyond the local ones (json-file, local, journald, none)

	// PluginPrivileges lets PluginPull and PluginUpgrade grant a plugin
	// the privileges it asks for (host network, mounts, devices,
	// capabilities) and PluginSet change its settings.
	PluginPrivileges bool
}

// ExecRules constrain ContainerExec bodies. The zero value refuses
// privileged execs and allows any user and command.
type ExecRules struct {
	Privileged  bool
	NonRootUser bool
	Commands    []string // allowed argv[0]; empty allows any
}

// ErrRule is wrapped by every refusal of a body rule (403).
var ErrRule = errors.New("body rule")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRule, fmt.Sprintf(format, args...))
}

// HostPathResolver resolves a host path as the engine will see it
// (symbolic links followed). It is the one piece of I/O body rules need.
type HostPathResolver func(string) (string, error)

// JudgeCreate checks a decoded container create request.
func (r *CreateRules) JudgeCreate(req *container.CreateRequest, resolve HostPathResolver) error {
	if req.Config == nil {
		return refuse("no container config")
	}
	if err := r.judgeImage(req.Config.Image); err != nil {
		return err
	}
	hc := req.HostConfig
	if r.NonRootUser {
		if isRootUser(req.Config.User) {
			return refuse("the container must run as a numeric non-root uid[:gid] (User is %q)", req.Config.User)
		}
		// A setuid binary in the image would make the user root again.
		if hc == nil || !setsNoNewPrivileges(hc.SecurityOpt) {
			return refuse("a non-root container must set no-new-privileges (--security-opt no-new-privileges)")
		}
	}
	if hc == nil {
		return nil
	}
	return r.judgeHostConfig(hc, resolve)
}

// JudgeExisting checks a container that already exists, as its inspect
// shows it, before a profile may exec into it, read or write its files,
// attach to it or start it: through those, the container's privileges
// and host mounts would be the caller's. Only what reaches the host
// counts here; image and user rules are about creating.
func (r *CreateRules) JudgeExisting(hc *container.HostConfig, resolve HostPathResolver) error {
	if hc == nil {
		return nil
	}
	// An inspect shows the engine's defaults filled in: the host cgroup
	// namespace on cgroup v1 hosts, the default masked and read-only
	// paths. Only an emptied list is an override there.
	seen := *hc
	if seen.CgroupnsMode == "host" {
		seen.CgroupnsMode = ""
	}
	// The runtime and log driver show the daemon's defaults, whatever
	// they are; reaching into a container does not change either.
	seen.Runtime = ""
	seen.LogConfig = container.LogConfig{}
	if len(seen.MaskedPaths) > 0 {
		seen.MaskedPaths = nil
	}
	if len(seen.ReadonlyPaths) > 0 {
		seen.ReadonlyPaths = nil
	}
	if err := r.judgeHostConfig(&seen, resolve); err != nil {
		return fmt.Errorf("the container was created with what this profile may not use: %w", err)
	}
	return nil
}

// judgeHostConfig checks what in a host config reaches the host.
func (r *CreateRules) judgeHostConfig(hc *container.HostConfig, resolve HostPathResolver) error {
	if hc.Privileged && !r.Privileged {
		return refuse("privileged containers are not allowed")
	}
	for _, b := range hc.Binds {
		if err := r.judgeBind(b, resolve); err != nil {
			return err
		}
	}
	for _, m := range hc.Mounts {
		if err := r.judgeMount(m, resolve); err != nil {
			return err
		}
	}
	if len(hc.VolumesFrom) > 0 && !r.VolumesFrom {
		return refuse("volumes from other containers are not allowed")
	}
	if !r.HostNamespaces {
		modes := map[string]string{
			"NetworkMode": string(hc.NetworkMode), "PidMode": string(hc.PidMode),
			"IpcMode": string(hc.IpcMode), "UTSMode": string(hc.UTSMode),
			"UsernsMode": string(hc.UsernsMode), "CgroupnsMode": string(hc.CgroupnsMode),
			"Cgroup": string(hc.Cgroup),
		}
		for _, k := range slices.Sorted(maps.Keys(modes)) {
			if v := modes[k]; v == "host" || strings.HasPrefix(v, "container:") {
				return refuse("%s %q shares a namespace of the host or another container", k, v)
			}
		}
	}
	for _, c := range hc.CapAdd {
		if !r.capAllowed(c) {
			return refuse("adding capability %s is not allowed", c)
		}
	}
	if !r.Devices && (len(hc.Devices) > 0 || len(hc.DeviceCgroupRules) > 0 || len(hc.DeviceRequests) > 0) {
		return refuse("devices are not allowed")
	}
	if !r.SecurityOpt {
		for _, o := range hc.SecurityOpt {
			if !isTighteningSecurityOpt(o) {
				return refuse("security option %q is not allowed", o)
			}
		}
	}
	if !r.MaskedPaths && (hc.MaskedPaths != nil || hc.ReadonlyPaths != nil) {
		return refuse("overriding masked or read-only paths is not allowed")
	}
	if len(hc.Sysctls) > 0 && !r.Sysctls {
		return refuse("sysctls are not allowed")
	}
	if hc.CgroupParent != "" && !r.CgroupParent {
		return refuse("a cgroup parent is not allowed")
	}
	if hc.Runtime != "" && !slices.Contains(r.Runtimes, hc.Runtime) {
		return refuse("runtime %q is not allowed", hc.Runtime)
	}
	if len(hc.GroupAdd) > 0 && !r.GroupAdd {
		return refuse("additional groups are not allowed")
	}
	if len(hc.Links) > 0 && !r.Links {
		return refuse("links to other containers are not allowed")
	}
	return r.judgeLogDriver(hc.LogConfig.Type)
}

// judgeLogDriver admits the drivers that write on the host only; the
// others (syslog, gelf, fluentd, ...) make the engine, as root, connect
// wherever their options say.
func (r *CreateRules) judgeLogDriver(driver string) error {
	switch driver {
	case "", "json-file", "local", "journald", "none":
		return nil
	}
	if slices.Contains(r.LogDrivers, driver) {
		return nil
	}
	return refuse("log driver %q is not allowed", driver)
}

func (r *CreateRules) judgeImage(image string) error {
	if len(r.Images) == 0 {
		return nil
	}
	for _, pattern := range r.Images {
		if ok, _ := path.Match(pattern, image); ok {
			return nil
		}
	}
	return refuse("image %q matches none of %v", image, r.Images)
}

func (r *CreateRules) capAllowed(c string) bool {
	c = strings.TrimPrefix(strings.ToUpper(c), "CAP_")
	for _, a := range r.CapAdd {
		a = strings.TrimPrefix(strings.ToUpper(a), "CAP_")
		if a == "ALL" || a == c {
			return true
		}
	}
	return false
}

// isTighteningSecurityOpt accepts the options that only restrict: a
// no-new-privileges that turns it on.
func isTighteningSecurityOpt(o string) bool {
	on, ok := noNewPrivileges(o)
	return ok && on
}

// noNewPrivileges reads a no-new-privileges option as the engine does:
// bare, or with ":" or "=" and a boolean. ok is false for other options.
func noNewPrivileges(o string) (on, ok bool) {
	if o == "no-new-privileges" {
		return true, true
	}
	for _, sep := range []string{":", "="} {
		if v, found := strings.CutPrefix(o, "no-new-privileges"+sep); found {
			b, err := strconv.ParseBool(v)
			return b && err == nil, true
		}
	}
	return false, false
}

// setsNoNewPrivileges reports whether the options leave no-new-privileges
// on: the engine applies them in order, so the last one decides.
func setsNoNewPrivileges(opts []string) bool {
	on := false
	for _, o := range opts {
		if v, ok := noNewPrivileges(o); ok {
			on = v
		}
	}
	return on
}

// isRootUser reports a user spec that may run as root. Only a plain
// non-zero uid, with an optional plain non-zero gid, counts as non-root:
// a name may map to uid 0 in the image's passwd file, and runc reads
// "+0" or "-0" as 0.
func isRootUser(u string) bool {
	uid, gid, hasGid := strings.Cut(u, ":")
	if !isPositiveID(uid) {
		return true
	}
	return hasGid && !isPositiveID(gid)
}

func isPositiveID(s string) bool {
	if s == "" || s[0] == '0' || len(s) > 10 {
		return false
	}
	return strings.Trim(s, "0123456789") == ""
}

// judgeBind checks a "source:target[:options]" bind. A source starting
// with "/" is a host path; anything else names a volume.
func (r *CreateRules) judgeBind(b string, resolve HostPathResolver) error {
	src, _, ok := strings.Cut(b, ":")
	if !ok {
		// An anonymous volume: just a container path.
		return nil
	}
	if strings.HasPrefix(src, "/") {
		return r.judgeHostPath(src, resolve)
	}
	if r.NoNamedVolumes {
		return refuse("named volume %q is not allowed", src)
	}
	return nil
}

func (r *CreateRules) judgeMount(m mount.Mount, resolve HostPathResolver) error {
	switch m.Type {
	case mount.TypeBind:
		return r.judgeHostPath(m.Source, resolve)
	case mount.TypeVolume:
		if m.Source != "" && r.NoNamedVolumes {
			return refuse("named volume %q is not allowed", m.Source)
		}
		if m.VolumeOptions != nil && m.VolumeOptions.DriverConfig != nil {
			return r.judgeVolumeDriver(m.VolumeOptions.DriverConfig.Name, m.VolumeOptions.DriverConfig.Options, resolve)
		}
		return nil
	case mount.TypeTmpfs:
		return nil
	}
	return refuse("mount type %q is not allowed", m.Type)
}

// judgeVolumeDriver admits the local driver's options in two forms only:
// a bind of a host path (type=none, o=bind, device=/path: judged like any
// bind) and a tmpfs with size and ownership options. Any other form can
// mount what the filter cannot judge (overlay layers from host
// directories, the host's /proc), and other drivers' options mean what
// their plugin makes of them: both are refused.
func (r *CreateRules) judgeVolumeDriver(driver string, opts map[string]string, resolve HostPathResolver) error {
	if len(opts) == 0 {
		return nil
	}
	if driver != "" && driver != "local" {
		return refuse("options for volume driver %q are not allowed", driver)
	}
	for k := range opts {
		if k != "type" && k != "o" && k != "device" {
			return refuse("volume option %q is not allowed", k)
		}
	}
	mountOpts := strings.Split(opts["o"], ",")
	switch opts["type"] {
	case "none":
		for _, o := range mountOpts {
			if o != "bind" && o != "rbind" && o != "ro" && o != "rw" {
				return refuse("bind volume option %q is not allowed", o)
			}
		}
		if !slices.Contains(mountOpts, "bind") && !slices.Contains(mountOpts, "rbind") {
			return refuse("a volume of type none must be a bind")
		}
		return r.judgeHostPath(opts["device"], resolve)
	case "tmpfs":
		if opts["device"] != "tmpfs" {
			return refuse("a tmpfs volume's device must be tmpfs")
		}
		for _, o := range mountOpts {
			name, _, _ := strings.Cut(o, "=")
			switch name {
			case "", "size", "mode", "uid", "gid", "nr_inodes", "noexec", "nosuid", "nodev", "ro", "rw":
			default:
				return refuse("tmpfs volume option %q is not allowed", o)
			}
		}
		return nil
	}
	return refuse("volume type %q is not allowed", opts["type"])
}

// judgeHostPath admits a host path only under an allowed prefix, both as
// written (cleaned) and as resolved on the host, so neither ".." nor a
// symbolic link can lead out.
func (r *CreateRules) judgeHostPath(p string, resolve HostPathResolver) error {
	if !strings.HasPrefix(p, "/") {
		return refuse("host path %q is not absolute", p)
	}
	clean := path.Clean(p)
	if !underAny(clean, r.BindSources) {
		return refuse("host path %s is not under an allowed bind source %v", p, r.BindSources)
	}
	if resolve == nil {
		return refuse("host path %s cannot be resolved", p)
	}
	real, err := resolve(clean)
	if err != nil {
		return refuse("host path %s cannot be resolved: %v", p, err)
	}
	if !underAny(real, r.BindSources) {
		return refuse("host path %s resolves to %s, outside the allowed bind sources %v", p, real, r.BindSources)
	}
	return nil
}

func underAny(p string, prefixes []string) bool {
	for _, prefix := range prefixes {
		prefix = path.Clean(prefix)
		if p == prefix || strings.HasPrefix(p, strings.TrimSuffix(prefix, "/")+"/") {
			return true
		}
	}
	return false
}

// JudgeVolumeCreate applies the create rules' bind sources to a volume
// whose driver options would bind a host path.
func (r *CreateRules) JudgeVolumeCreate(req *volume.CreateRequest, resolve HostPathResolver) error {
	if req.ClusterVolumeSpec != nil {
		return refuse("cluster volumes are not allowed")
	}
	return r.judgeVolumeDriver(req.Driver, req.DriverOpts, resolve)
}

// JudgeExec checks a decoded exec create request.
func (r *ExecRules) JudgeExec(req *container.ExecCreateRequest) error {
	if req.Privileged && !r.Privileged {
		return refuse("privileged exec is not allowed")
	}
	if r.NonRootUser && isRootUser(req.User) {
		return refuse("exec must name a non-root user (User is %q)", req.User)
	}
	if len(r.Commands) > 0 {
		if len(req.Cmd) == 0 || !slices.Contains(r.Commands, req.Cmd[0]) {
			return refuse("command %q is not in %v", req.Cmd, r.Commands)
		}
		// PATH, or a preloaded library, would choose what the command
		// name runs.
		if len(req.Env) > 0 {
			return refuse("an exec limited to commands may not set environment variables")
		}
	}
	return nil
}

// JudgeService applies the create rules to the container a swarm service
// would run: the same mounts, capabilities, security options, sysctls,
// user and image checks. Services that install plugins are refused.
func (r *CreateRules) JudgeService(spec *swarm.ServiceSpec, resolve HostPathResolver) error {
	tt := spec.TaskTemplate
	if tt.PluginSpec != nil || tt.Runtime == swarm.RuntimePlugin {
		return refuse("plugin services are not allowed")
	}
	cs := tt.ContainerSpec
	if cs == nil {
		return refuse("a service must have a container spec")
	}
	if err := r.judgeImage(cs.Image); err != nil {
		return err
	}
	if r.NonRootUser && (isRootUser(cs.User) || cs.Privileges == nil || !cs.Privileges.NoNewPrivileges) {
		return refuse("the service must run as a numeric non-root uid[:gid] with no-new-privileges (User is %q)", cs.User)
	}
	for _, m := range cs.Mounts {
		if err := r.judgeMount(m, resolve); err != nil {
			return err
		}
	}
	for _, c := range cs.CapabilityAdd {
		if !r.capAllowed(c) {
			return refuse("adding capability %s is not allowed", c)
		}
	}
	if len(cs.Sysctls) > 0 && !r.Sysctls {
		return refuse("sysctls are not allowed")
	}
	if len(cs.Groups) > 0 && !r.GroupAdd {
		return refuse("additional groups are not allowed")
	}
	if p := cs.Privileges; p != nil && !r.SecurityOpt {
		if (p.Seccomp != nil && p.Seccomp.Mode != swarm.SeccompModeDefault) ||
			(p.AppArmor != nil && p.AppArmor.Mode != swarm.AppArmorModeDefault) ||
			(p.SELinuxContext != nil && *p.SELinuxContext != swarm.SELinuxContext{}) {
			return refuse("security options other than the defaults are not allowed")
		}
	}
	if tt.LogDriver != nil {
		if err := r.judgeLogDriver(tt.LogDriver.Name); err != nil {
			return err
		}
	}
	if !r.HostNamespaces {
		for _, n := range tt.Networks {
			if n.Target == "host" {
				return refuse("the host network is not allowed")
			}
		}
	}
	if res := tt.Resources; res != nil && res.Reservations != nil && len(res.Reservations.GenericResources) > 0 && !r.Devices {
		return refuse("generic resources (devices) are not allowed")
	}
	return nil
}

// Describe lists the create rules in force, for explain.
func (r *CreateRules) Describe() string {
	yesNo := func(b bool) string {
		if b {
			return "allowed"
		}
		return "refused"
	}
	list := func(l []string, empty string) string {
		if len(l) == 0 {
			return empty
		}
		return strings.Join(l, ", ")
	}
	user := "any"
	if r.NonRootUser {
		user = "non-root"
	}
	return fmt.Sprintf("privileged %s; bind sources: %s; named volumes %s; host namespaces %s; "+
		"added capabilities: %s; devices %s; weakened security options %s; masked path overrides %s; "+
		"sysctls %s; cgroup parent %s; runtimes: %s; added groups %s; volumes from %s; user: %s; images: %s; "+
		"links %s; extra log drivers: %s; plugin privileges %s",
		yesNo(r.Privileged), list(r.BindSources, "none"), yesNo(!r.NoNamedVolumes), yesNo(r.HostNamespaces),
		list(r.CapAdd, "none"), yesNo(r.Devices), yesNo(r.SecurityOpt), yesNo(r.MaskedPaths),
		yesNo(r.Sysctls), yesNo(r.CgroupParent), list(r.Runtimes, "default only"), yesNo(r.GroupAdd),
		yesNo(r.VolumesFrom), user, list(r.Images, "any"), yesNo(r.Links), list(r.LogDrivers, "none"),
		yesNo(r.PluginPrivileges))
}

// Describe lists the exec rules in force, for explain.
func (r *ExecRules) Describe() string {
	priv, user, cmds := "refused", "any", "any"
	if r.Privileged {
		priv = "allowed"
	}
	if r.NonRootUser {
		user = "non-root"
	}
	if len(r.Commands) > 0 {
		cmds = strings.Join(r.Commands, ", ")
	}
	return fmt.Sprintf("privileged %s; user: %s; commands: %s", priv, user, cmds)
}

// JudgePlugin checks the privileges a plugin install grants (PluginPull,
// PluginUpgrade: the body lists them) and settings changes (PluginSet:
// they can point a plugin's mounts and devices at host paths).
func (r *CreateRules) JudgePlugin(op string, privileges plugin.Privileges, settings []string) error {
	if r.PluginPrivileges {
		return nil
	}
	if op == "PluginSet" && len(settings) > 0 {
		return refuse("changing plugin settings is not allowed")
	}
	if len(privileges) > 0 {
		return refuse("granting a plugin privileges (%s) is not allowed", privileges[0].Name)
	}
	return nil
}
