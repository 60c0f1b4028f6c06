package filter

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/plugin"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/volume"
)

// CreateRules constrain ContainerCreate bodies. The zero value is the safe
// set: no privileged mode, no host binds (and those allowed read-only), no
// host namespaces, no added capabilities, no devices, no weakened security
// options, no masked or read-only path overrides, no sysctls, no cgroup
// parent, no other runtime, no added groups, no volumes from other
// containers, no swarm secrets or configs, any image, any user.
// Each field loosens one thing, explicitly.
type CreateRules struct {
	Privileged     bool
	BindSources    []string // host path prefixes a bind may come from
	NoNamedVolumes bool     // refuse named volumes
	// WritableBinds lets a container write to the host paths it binds.
	// A container that writes inside a bind source can swap a directory
	// there for a symbolic link, which the engine follows the next time
	// it mounts it: containers with writable host binds may then have no
	// restart policy, and services none at all.
	WritableBinds  bool
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

	// RemoteFetch lets the engine fetch from URLs the caller names, on
	// the host's network: a build's remote context, an import's source.
	RemoteFetch bool

	// Secrets and Configs name the swarm secrets and configs a service
	// may mount: the task reads them, so the caller does.
	Secrets []string
	Configs []string

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

// JudgeCreate checks a decoded container create request. version is the
// request's API version ("" for the newest).
func (r *CreateRules) JudgeCreate(req *container.CreateRequest, version string, j *judging) error {
	if req.Config == nil {
		return refuse("no container config")
	}
	if err := r.judgeImage(req.Config.Image); err != nil {
		return err
	}
	// No host config is the engine's defaults, which the rules judge
	// like any other setting.
	hc := req.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if r.NonRootUser {
		if isRootUser(req.Config.User) {
			return refuse("the container must run as a numeric non-root uid:gid (User is %q; a uid alone runs with the image's group for it, root's by default)", req.Config.User)
		}
		// A setuid binary in the image would make the user root again.
		if !setsNoNewPrivileges(hc.SecurityOpt) {
			return refuse("a non-root container must set no-new-privileges (--security-opt no-new-privileges)")
		}
	}
	if err := r.judgeHostConfig(hc, j); err != nil {
		return err
	}
	if err := r.judgeDefaults(hc, j); err != nil {
		return err
	}
	return r.judgeNetworks(string(hc.NetworkMode), req.NetworkingConfig, j)
}

// judgeDefaults refuses a setting left to the engine whose default would
// break a rule: on cgroup v1 hosts the engine's default cgroup namespace
// is the host's.
func (r *CreateRules) judgeDefaults(hc *container.HostConfig, j *judging) error {
	if hc.CgroupnsMode != "" {
		return nil
	}
	return r.judgeHostCgroupns(j, "ask for a private one (docker run --cgroupns private, or HostConfig.CgroupnsMode \"private\")")
}

// judgeHostCgroupns refuses containers the engine would put in the host's
// cgroup namespace, its default on cgroup v1 hosts, unless the profile
// allows host namespaces; remedy says what else the client may do.
func (r *CreateRules) judgeHostCgroupns(j *judging, remedy string) error {
	if r.HostNamespaces {
		return nil
	}
	f, ok, err := j.fact(LookupEngine, "")
	if err != nil || !ok {
		return err
	}
	if f.Engine.CgroupVersion != "2" {
		return refuse("on this cgroup v%s host the engine's default cgroup namespace is the host's: %s", f.Engine.CgroupVersion, remedy)
	}
	return nil
}

// judgeNetworks resolves the networks a container joins the way the
// engine does (full id, name, id prefix) and refuses the host's network
// under any of its names.
func (r *CreateRules) judgeNetworks(mode string, nc *network.NetworkingConfig, j *judging) error {
	if r.HostNamespaces {
		return nil
	}
	refs := []string{}
	switch {
	case mode == "", mode == "default", mode == "bridge", mode == "none", mode == "host", strings.HasPrefix(mode, "container:"):
		// Namespace modes, judged with the other namespaces.
	default:
		refs = append(refs, mode)
	}
	if nc != nil {
		refs = append(refs, slices.Sorted(maps.Keys(nc.EndpointsConfig))...)
	}
	return judgeNetworkRefs(refs, j)
}

func judgeNetworkRefs(refs []string, j *judging) error {
	for _, ref := range refs {
		if ref == "host" {
			return refuse("the host network is not allowed")
		}
		if !isObjectRef(ref) {
			return refuse("network reference %q is not a name or id", ref)
		}
		f, ok, err := j.fact(LookupNetwork, ref)
		if err != nil {
			return err
		}
		if ok && (f.Network.Driver == "host" || f.Network.Name == "host") {
			return refuse("network %q is the host's network, which is not allowed", ref)
		}
	}
	return nil
}

// JudgeExisting checks a container that already exists, as its inspect
// shows it, before a profile may exec into it, read or write its files,
// attach to it or start it: through those, the container's privileges
// and host mounts would be the caller's. Only what reaches the host
// counts here; image and user rules are about creating.
func (r *CreateRules) JudgeExisting(hc *container.HostConfig, j *judging) error {
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
	// The engine's own lists are at least its oldest defaults; a list
	// missing one of them was narrowed on purpose, which leaves the host
	// writable through /proc or /sys.
	if containsAll(seen.MaskedPaths, engineMaskedPaths()) {
		seen.MaskedPaths = nil
	}
	if containsAll(seen.ReadonlyPaths, engineReadonlyPaths()) {
		seen.ReadonlyPaths = nil
	}
	if err := r.judgeHostConfig(&seen, j); err != nil {
		return fmt.Errorf("the container was created with what this profile may not use: %w", err)
	}
	return nil
}

// engineMaskedPaths and engineReadonlyPaths are the paths every engine
// since 20.10 masks or mounts read-only in a container by default; newer
// engines add to them.
func engineMaskedPaths() []string {
	return []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"}
}

func engineReadonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

func containsAll(list, want []string) bool {
	for _, w := range want {
		if !slices.Contains(list, w) {
			return false
		}
	}
	return true
}

// judgeHostConfig checks what in a host config reaches the host.
func (r *CreateRules) judgeHostConfig(hc *container.HostConfig, j *judging) error {
	if hc.Privileged && !r.Privileged {
		return refuse("privileged containers are not allowed")
	}
	writable := ""
	for _, b := range hc.Binds {
		w, err := r.judgeBind(b, j)
		if err != nil {
			return err
		}
		writable = cmp.Or(writable, w)
	}
	for _, m := range hc.Mounts {
		w, err := r.judgeMount(m, j)
		if err != nil {
			return err
		}
		writable = cmp.Or(writable, w)
	}
	if err := r.judgeWritableBind(writable, hc.RestartPolicy.Name); err != nil {
		return err
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

// isRootUser reports a user spec that may run as root or in root's
// group. Only a plain non-zero uid with a plain non-zero gid counts as
// non-root: a name may map to uid 0 in the image's passwd file, runc
// reads "+0" or "-0" as 0, and a uid alone takes the image's group for
// it, gid 0 when the image has none.
func isRootUser(u string) bool {
	uid, gid, hasGid := strings.Cut(u, ":")
	return !hasGid || !isPositiveID(uid) || !isPositiveID(gid)
}

func isPositiveID(s string) bool {
	if s == "" || s[0] == '0' || len(s) > 10 {
		return false
	}
	return strings.Trim(s, "0123456789") == ""
}

// judgeWritableBind refuses a writable host bind (writable names it; ""
// for none) unless the profile allows them, and then a restart policy
// with it: the engine mounts a container's binds again at every restart,
// unseen, through whatever link the container swapped in meanwhile. A
// start the filter sees is judged again.
func (r *CreateRules) judgeWritableBind(writable string, restart container.RestartPolicyMode) error {
	if writable == "" {
		return nil
	}
	if !r.WritableBinds {
		return refuse("%s is mounted writable: host binds must be read-only (\":ro\", or ReadOnly in a mount), since a container that writes inside a bind source can swap a directory there for a symbolic link that the engine follows at its next mount (create rule writable_binds)", writable)
	}
	switch restart {
	case "", container.RestartPolicyDisabled:
		return nil
	}
	return refuse("restart policy %q is not allowed with a writable host bind (%s): the engine would mount the binds again at each restart, unseen, through whatever link the container swapped in", restart, writable)
}

// judgeBind checks a "source:target[:options]" bind. A source starting
// with "/" is a host path; anything else names a volume. It returns the
// host path the bind makes writable, "" for none.
func (r *CreateRules) judgeBind(b string, j *judging) (string, error) {
	src, rest, ok := strings.Cut(b, ":")
	if !ok {
		// An anonymous volume: just a container path.
		return "", nil
	}
	_, mode, _ := strings.Cut(rest, ":")
	ro := readOnlyMode(mode)
	if strings.HasPrefix(src, "/") {
		if err := r.judgeHostPath(src, j); err != nil {
			return "", err
		}
		return writableName("host path "+src, ro && !hasSubmounts(src, j)), nil
	}
	return r.judgeNamedVolume(src, ro, j)
}

// readOnlyMode reads a bind's options as the engine does: "ro" makes it
// read-only, and the engine refuses "ro" with "rw".
func readOnlyMode(mode string) bool {
	opts := strings.Split(mode, ",")
	return slices.Contains(opts, "ro") && !slices.Contains(opts, "rw")
}

func writableName(name string, readOnly bool) string {
	if readOnly {
		return ""
	}
	return name
}

// judgeNamedVolume judges a volume named by a mount by what it is: one
// that exists mounts with the driver options it was created with, which
// are judged as VolumeCreate judges them. One that does not exist yet is
// created with the default driver and no options. It returns the volume
// when it binds a host path writable.
func (r *CreateRules) judgeNamedVolume(name string, readOnly bool, j *judging) (string, error) {
	if r.NoNamedVolumes {
		return "", refuse("named volume %q is not allowed", name)
	}
	if !isObjectRef(name) {
		return "", refuse("volume name %q is not a name", name)
	}
	f, ok, err := j.fact(LookupVolume, name)
	if err != nil || !ok {
		return "", err
	}
	if err := r.judgeVolumeDriver(f.Volume.Driver, f.Volume.Options, j); err != nil {
		return "", fmt.Errorf("volume %s: %w", name, err)
	}
	return r.volumeWritable(name, f.Volume.Options, readOnly, j), nil
}

// volumeWritable names a volume whose options bind a host path that the
// mount leaves writable, "" for any other. The local driver reads its
// options in order, so the last of "ro" and "rw" decides.
func (r *CreateRules) volumeWritable(name string, opts map[string]string, readOnly bool, j *judging) string {
	if opts["type"] != "none" {
		return ""
	}
	for _, o := range strings.Split(opts["o"], ",") {
		switch o {
		case "ro":
			readOnly = true
		case "rw":
			readOnly = false
		}
	}
	if readOnly && !hasSubmounts(opts["device"], j) {
		return ""
	}
	return fmt.Sprintf("volume %s (device %s)", name, opts["device"])
}

// hasSubmounts reports a host path with mounts beneath it, which a
// read-only bind leaves writable on engines before 25 (and at API
// versions before 1.44): such a bind counts as writable. Not known yet,
// it counts as not: the decision waits for the path's lookup (which
// judgeHostPath asks for) before it allows anything.
func hasSubmounts(p string, j *judging) bool {
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	f, known := j.facts[Lookup{LookupHostPath, p}]
	return known && f.Submounts
}

// judgeMount checks one mount and returns what it binds writable of the
// host, "" for nothing.
func (r *CreateRules) judgeMount(m mount.Mount, j *judging) (string, error) {
	// A non-recursive read-only bind leaves the mounts under it writable.
	ro := m.ReadOnly && (m.BindOptions == nil || !m.BindOptions.ReadOnlyNonRecursive)
	switch m.Type {
	case mount.TypeBind:
		if err := r.judgeHostPath(m.Source, j); err != nil {
			return "", err
		}
		return writableName("host path "+m.Source, ro && !hasSubmounts(m.Source, j)), nil
	case mount.TypeVolume:
		writable := ""
		if m.VolumeOptions != nil && m.VolumeOptions.DriverConfig != nil {
			dc := m.VolumeOptions.DriverConfig
			if err := r.judgeVolumeDriver(dc.Name, dc.Options, j); err != nil {
				return "", err
			}
			writable = r.volumeWritable(cmp.Or(m.Source, "(anonymous)"), dc.Options, ro, j)
		}
		if m.Source != "" {
			w, err := r.judgeNamedVolume(m.Source, ro, j)
			return cmp.Or(writable, w), err
		}
		return writable, nil
	case mount.TypeTmpfs:
		return "", nil
	}
	return "", refuse("mount type %q is not allowed", m.Type)
}

// judgeVolumeDriver admits the local driver's options in two forms only:
// a bind of a host path (type=none, o=bind, device=/path: judged like any
// bind) and a tmpfs with size and ownership options. Any other form can
// mount what the filter cannot judge (overlay layers from host
// directories, the host's /proc), and other drivers' options mean what
// their plugin makes of them: both are refused.
func (r *CreateRules) judgeVolumeDriver(driver string, opts map[string]string, j *judging) error {
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
		return r.judgeHostPath(opts["device"], j)
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
// written and as the kernel resolves it when it mounts it. The kernel
// follows a symbolic link before it reads a ".." after it, so a path is
// judged only when it is already clean: "." and ".." segments and "//"
// are refused, not cleaned away (a single trailing "/" is allowed).
func (r *CreateRules) judgeHostPath(p string, j *judging) error {
	if !strings.HasPrefix(p, "/") {
		return refuse("host path %q is not absolute", p)
	}
	written := p
	if len(written) > 1 {
		written = strings.TrimSuffix(written, "/")
	}
	if path.Clean(written) != written {
		return refuse("host path %q is not clean (\".\", \"..\" or \"//\"): the kernel would resolve it differently from how it reads", p)
	}
	if !underAny(written, r.BindSources) {
		return refuse("host path %s is not under an allowed bind source %v", p, r.BindSources)
	}
	f, ok, err := j.fact(LookupHostPath, written)
	if err != nil {
		return refuse("host path %s cannot be resolved: %v", p, f.Err)
	}
	if !ok {
		return nil
	}
	if !underAny(f.Path, r.BindSources) {
		return refuse("host path %s resolves to %s, outside the allowed bind sources %v", p, f.Path, r.BindSources)
	}
	return nil
}

// isObjectRef accepts the names, ids and id prefixes of engine objects,
// which are looked up by them: nothing that could read as another path.
func isObjectRef(s string) bool {
	return s != "" && s != "." && s != ".." && strings.IndexFunc(s, notNameRune) < 0 && !strings.ContainsAny(s, ":@+")
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

// JudgeVolumeCreate applies the create rules' bind sources, and their
// read-only binds, to a volume whose driver options would bind a host
// path.
func (r *CreateRules) JudgeVolumeCreate(req *volume.CreateRequest, j *judging) error {
	if req.ClusterVolumeSpec != nil {
		return refuse("cluster volumes are not allowed")
	}
	if err := r.judgeVolumeDriver(req.Driver, req.DriverOpts, j); err != nil {
		return err
	}
	// A container create that names a volume not made yet is judged
	// before the engine makes it: one the caller makes in between, with
	// bind options, must not be a writable bind.
	if w := r.volumeWritable(req.Name, req.DriverOpts, false, j); w != "" && !r.WritableBinds {
		return refuse("%s would bind a host path writable: a bind volume must be read-only by its options (o=bind,ro) (create rule writable_binds)", w)
	}
	return nil
}

// JudgeExec checks a decoded exec create request.
func (r *ExecRules) JudgeExec(req *container.ExecCreateRequest) error {
	if req.Privileged && !r.Privileged {
		return refuse("privileged exec is not allowed")
	}
	if err := r.judgeUserAndCommand(req.User, req.Cmd); err != nil {
		return err
	}
	// PATH, or a preloaded library, would choose what the command name
	// runs.
	if len(r.Commands) > 0 && len(req.Env) > 0 {
		return refuse("an exec limited to commands may not set environment variables")
	}
	return nil
}

func (r *ExecRules) judgeUserAndCommand(user string, cmd []string) error {
	if r.NonRootUser && isRootUser(user) {
		return refuse("exec must name a numeric non-root uid:gid (User is %q)", user)
	}
	if len(r.Commands) > 0 && (len(cmd) == 0 || !slices.Contains(r.Commands, cmd[0])) {
		return refuse("command %q is not in %v", cmd, r.Commands)
	}
	return nil
}

// judgeInspected checks an exec instance, as its inspect shows it, before
// it is started: one created by someone else (exec ids show in the
// events stream) was never judged by this profile's rules.
func (r *ExecRules) judgeInspected(e *ExecFact) error {
	if e.Privileged && !r.Privileged {
		return refuse("the exec is privileged, which is not allowed")
	}
	return r.judgeUserAndCommand(e.User, e.Command)
}

// judgeContainer checks the container an exec runs in: a non-root exec
// stays non-root only where setuid binaries cannot raise it, which
// no-new-privileges on the container ensures.
func (r *ExecRules) judgeContainer(hc *container.HostConfig) error {
	if r.NonRootUser && (hc == nil || !setsNoNewPrivileges(hc.SecurityOpt)) {
		return refuse("a non-root exec needs a container with no-new-privileges: a setuid binary there would make it root")
	}
	return nil
}

// JudgeService applies the create rules to the container a swarm service
// would run: the same mounts, capabilities, security options, sysctls,
// user and image checks. Services that install plugins are refused.
func (r *CreateRules) JudgeService(spec *swarm.ServiceSpec, j *judging) error {
	tt := spec.TaskTemplate
	if tt.PluginSpec != nil || tt.Runtime == swarm.RuntimePlugin {
		return refuse("plugin services are not allowed")
	}
	// Network attachment tasks name another container.
	if tt.NetworkAttachmentSpec != nil || (tt.Runtime != "" && tt.Runtime != swarm.RuntimeContainer) {
		return refuse("service runtime %q is not allowed: only containers", tt.Runtime)
	}
	// A service's task has no say in its cgroup namespace.
	if err := r.judgeHostCgroupns(j, "a service cannot ask for a private one (host_namespaces allows it)"); err != nil {
		return err
	}
	cs := tt.ContainerSpec
	if cs == nil {
		return refuse("a service must have a container spec")
	}
	if err := r.judgeImage(cs.Image); err != nil {
		return err
	}
	if r.NonRootUser && (isRootUser(cs.User) || cs.Privileges == nil || !cs.Privileges.NoNewPrivileges) {
		return refuse("the service must run as a numeric non-root uid:gid with no-new-privileges (User is %q)", cs.User)
	}
	for _, m := range cs.Mounts {
		w, err := r.judgeMount(m, j)
		if err != nil {
			return err
		}
		// The swarm makes a new task whenever one ends, mounting it all
		// again unseen: whatever writable_binds says.
		if w != "" {
			return refuse("%s is mounted writable: a service's host binds must be read-only, since the swarm mounts them again for every new task, unseen, through whatever link a task swapped in", w)
		}
	}
	if err := r.judgeSwarmRefs(cs, j); err != nil {
		return err
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
		var refs []string
		for _, n := range tt.Networks {
			refs = append(refs, n.Target)
		}
		if err := judgeNetworkRefs(refs, j); err != nil {
			return err
		}
	}
	if res := tt.Resources; res != nil && res.Reservations != nil && len(res.Reservations.GenericResources) > 0 && !r.Devices {
		return refuse("generic resources (devices) are not allowed")
	}
	return nil
}

// judgeSwarmRefs judges the secrets and configs a service's tasks mount
// by what the swarm holds under the ids they name: the swarm checks that
// a reference's name is the object's, and the filter that the object is
// one the profile lists.
func (r *CreateRules) judgeSwarmRefs(cs *swarm.ContainerSpec, j *judging) error {
	if p := cs.Privileges; p != nil && p.CredentialSpec != nil && *p.CredentialSpec != (swarm.CredentialSpec{}) {
		return refuse("credential specs are not allowed")
	}
	for _, s := range cs.Secrets {
		if s == nil {
			continue
		}
		if err := judgeSwarmRef(j, LookupSecret, "secret", s.SecretID, s.SecretName, r.Secrets); err != nil {
			return err
		}
	}
	for _, c := range cs.Configs {
		if c == nil {
			continue
		}
		if err := judgeSwarmRef(j, LookupConfig, "config", c.ConfigID, c.ConfigName, r.Configs); err != nil {
			return err
		}
	}
	return nil
}

func judgeSwarmRef(j *judging, kind LookupKind, what, id, name string, allowed []string) error {
	if !slices.Contains(allowed, name) {
		return refuse("%s %q is not one this profile may mount (create rule %ss: %v)", what, name, what, allowed)
	}
	if !isObjectRef(id) {
		return refuse("%s id %q is not an id", what, id)
	}
	f, ok, err := j.fact(kind, id)
	switch {
	case err != nil:
		return err
	case f.Missing:
		return refuse("%s %s not found", what, id)
	case !ok:
		return nil
	}
	if f.Swarm.ID != id || f.Swarm.Name != name {
		return refuse("%s id %s names %s %q (id %s), not %q", what, id, what, f.Swarm.Name, f.Swarm.ID, name)
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
	return fmt.Sprintf("privileged %s; bind sources: %s; writable binds %s; named volumes %s; host namespaces %s; "+
		"added capabilities: %s; devices %s; weakened security options %s; masked path overrides %s; "+
		"sysctls %s; cgroup parent %s; runtimes: %s; added groups %s; volumes from %s; user: %s; images: %s; "+
		"links %s; extra log drivers: %s; plugin privileges %s; remote fetch %s; secrets: %s; configs: %s",
		yesNo(r.Privileged), list(r.BindSources, "none"), yesNo(r.WritableBinds), yesNo(!r.NoNamedVolumes), yesNo(r.HostNamespaces),
		list(r.CapAdd, "none"), yesNo(r.Devices), yesNo(r.SecurityOpt), yesNo(r.MaskedPaths),
		yesNo(r.Sysctls), yesNo(r.CgroupParent), list(r.Runtimes, "default only"), yesNo(r.GroupAdd),
		yesNo(r.VolumesFrom), user, list(r.Images, "any"), yesNo(r.Links), list(r.LogDrivers, "none"),
		yesNo(r.PluginPrivileges), yesNo(r.RemoteFetch), list(r.Secrets, "none"), list(r.Configs, "none"))
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
func (r *CreateRules) JudgePlugin(privileges plugin.Privileges, settings []string) error {
	if r.PluginPrivileges {
		return nil
	}
	if len(settings) > 0 {
		return refuse("changing plugin settings is not allowed")
	}
	if len(privileges) > 0 {
		return refuse("granting a plugin privileges (%s) is not allowed", privileges[0].Name)
	}
	return nil
}
