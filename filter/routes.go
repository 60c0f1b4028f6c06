package filter

import (
	"fmt"
	"strings"
)

// Section names group operations the way tecnativa/docker-socket-proxy's
// environment variables do: by the first segment of the unversioned path.
const (
	SectionAuth         = "auth"
	SectionBuild        = "build"
	SectionCommit       = "commit"
	SectionConfigs      = "configs"
	SectionContainers   = "containers"
	SectionDistribution = "distribution"
	SectionEvents       = "events"
	SectionExec         = "exec"
	SectionGrpc         = "grpc"
	SectionImages       = "images"
	SectionInfo         = "info"
	SectionNetworks     = "networks"
	SectionNodes        = "nodes"
	SectionPing         = "ping"
	SectionPlugins      = "plugins"
	SectionSecrets      = "secrets"
	SectionServices     = "services"
	SectionSession      = "session"
	SectionSwarm        = "swarm"
	SectionSystem       = "system"
	SectionTasks        = "tasks"
	SectionVersion      = "version"
	SectionVolumes      = "volumes"
)

// Sections lists every section name, in a stable order.
func Sections() []string {
	return []string{
		SectionAuth, SectionBuild, SectionCommit, SectionConfigs, SectionContainers,
		SectionDistribution, SectionEvents, SectionExec, SectionGrpc, SectionImages,
		SectionInfo, SectionNetworks, SectionNodes, SectionPing, SectionPlugins,
		SectionSecrets, SectionServices, SectionSession, SectionSwarm, SectionSystem,
		SectionTasks, SectionVersion, SectionVolumes,
	}
}

// Route is one operation of the Docker Engine API: an HTTP method and a path
// template, named by the API's operation id.
//
// Templates use {x} for a parameter that is a single path segment and {x*}
// for one that may span segments. Only image, plugin and distribution
// references take {x*}: they legitimately contain '/' (library/busybox), and
// the engine matches them greedily, so the operation is fixed by the literal
// segments after the parameter.
type Route struct {
	Method    string
	Template  string
	Operation string
	Section   string

	// Sensitive marks reads that disclose what a read-only view should
	// not: a container's files or its stdin, whole images (which may hold
	// secrets built into them), the swarm's unlock key. They are never
	// part of a section group: only their own operation id grants them.
	Sensitive bool

	// Hijack marks operations whose connection may leave HTTP: attach and
	// exec (Upgrade: tcp or the legacy raw stream), websockets, and h2c
	// upgrades.
	Hijack bool

	// Watch marks open-ended streams that only end when the client or the
	// engine ends them (events, followed logs, attach). They are cut at
	// shutdown instead of being waited for.
	Watch bool

	// Explicit marks writes that carry privilege the body rules cannot
	// fully bound (updating a container's resources, services, plugins
	// with the privileges they ask for, BuildKit's session and gRPC API,
	// whose builds may ask for the host's network). Like sensitive reads, no group
	// grants them: only their own id.
	Explicit bool

	// Body marks operations that take a request body. Any other request
	// that carries one is refused: old API versions read a HostConfig
	// from ContainerStart's body, and no body is ever forwarded unjudged
	// where the API expects none.
	Body bool

	prefix []string // literal segments before a multi-segment parameter
	suffix []string // literal segments after it
	multi  bool     // whether the template has a {x*} parameter
	params []bool   // for templates without {x*}: which segments are parameters
}

// IsWrite reports whether the route counts as a write for section groups:
// anything but GET and HEAD, as tecnativa's POST gate sees it.
func (r *Route) IsWrite() bool {
	return r.Method != "GET" && r.Method != "HEAD"
}

// engineRoutes is the engine's HTTP API (API version 1.56 and earlier),
// in the order of the Engine API reference. Operations missing from the
// reference but served by the engine (POST /grpc) are named here after their
// tecnativa section.
func engineRoutes() []Route {
	const (
		sens   = 1 << iota
		hijack // connection leaves HTTP
		watch  // open-ended stream
		body   // takes a request body
		expl   // granted by its own id only
	)
	type row struct {
		method, template, op, section string
		flags                         int
	}
	rows := []row{
		{"GET", "/containers/json", "ContainerList", SectionContainers, 0},
		{"POST", "/containers/create", "ContainerCreate", SectionContainers, body},
		{"GET", "/containers/{id}/json", "ContainerInspect", SectionContainers, 0},
		{"GET", "/containers/{id}/top", "ContainerTop", SectionContainers, 0},
		{"GET", "/containers/{id}/logs", "ContainerLogs", SectionContainers, watch},
		{"GET", "/containers/{id}/changes", "ContainerChanges", SectionContainers, 0},
		{"GET", "/containers/{id}/export", "ContainerExport", SectionContainers, sens},
		{"GET", "/containers/{id}/stats", "ContainerStats", SectionContainers, watch},
		{"POST", "/containers/{id}/resize", "ContainerResize", SectionContainers, 0},
		{"POST", "/containers/{id}/start", "ContainerStart", SectionContainers, 0},
		{"POST", "/containers/{id}/stop", "ContainerStop", SectionContainers, 0},
		{"POST", "/containers/{id}/restart", "ContainerRestart", SectionContainers, 0},
		{"POST", "/containers/{id}/kill", "ContainerKill", SectionContainers, 0},
		{"POST", "/containers/{id}/update", "ContainerUpdate", SectionContainers, body | expl},
		{"POST", "/containers/{id}/rename", "ContainerRename", SectionContainers, 0},
		{"POST", "/containers/{id}/pause", "ContainerPause", SectionContainers, 0},
		{"POST", "/containers/{id}/unpause", "ContainerUnpause", SectionContainers, 0},
		{"POST", "/containers/{id}/attach", "ContainerAttach", SectionContainers, hijack | watch},
		{"GET", "/containers/{id}/attach/ws", "ContainerAttachWebsocket", SectionContainers, sens | hijack | watch},
		{"POST", "/containers/{id}/wait", "ContainerWait", SectionContainers, watch},
		{"DELETE", "/containers/{id}", "ContainerDelete", SectionContainers, 0},
		{"HEAD", "/containers/{id}/archive", "ContainerArchiveInfo", SectionContainers, sens},
		{"GET", "/containers/{id}/archive", "ContainerArchive", SectionContainers, sens},
		{"PUT", "/containers/{id}/archive", "PutContainerArchive", SectionContainers, body},
		{"POST", "/containers/prune", "ContainerPrune", SectionContainers, 0},
		{"GET", "/images/json", "ImageList", SectionImages, 0},
		{"POST", "/build", "ImageBuild", SectionBuild, body},
		{"POST", "/build/prune", "BuildPrune", SectionBuild, 0},
		{"POST", "/images/create", "ImageCreate", SectionImages, body},
		{"GET", "/images/{name*}/json", "ImageInspect", SectionImages, 0},
		{"GET", "/images/{name*}/attestations", "ImageAttestations", SectionImages, 0},
		{"GET", "/images/{name*}/history", "ImageHistory", SectionImages, 0},
		{"POST", "/images/{name*}/push", "ImagePush", SectionImages, 0},
		{"POST", "/images/{name*}/tag", "ImageTag", SectionImages, 0},
		{"DELETE", "/images/{name*}", "ImageDelete", SectionImages, 0},
		{"GET", "/images/search", "ImageSearch", SectionImages, 0},
		{"POST", "/images/prune", "ImagePrune", SectionImages, 0},
		{"POST", "/auth", "SystemAuth", SectionAuth, body},
		{"GET", "/info", "SystemInfo", SectionInfo, 0},
		{"GET", "/version", "SystemVersion", SectionVersion, 0},
		{"GET", "/_ping", "SystemPing", SectionPing, 0},
		{"HEAD", "/_ping", "SystemPingHead", SectionPing, 0},
		{"POST", "/commit", "ImageCommit", SectionCommit, body},
		{"GET", "/events", "SystemEvents", SectionEvents, watch},
		{"GET", "/system/df", "SystemDataUsage", SectionSystem, 0},
		{"GET", "/images/{name*}/get", "ImageGet", SectionImages, sens},
		{"GET", "/images/get", "ImageGetAll", SectionImages, sens},
		{"POST", "/images/load", "ImageLoad", SectionImages, body},
		{"POST", "/containers/{id}/exec", "ContainerExec", SectionContainers, body},
		{"POST", "/exec/{id}/start", "ExecStart", SectionExec, hijack | watch | body},
		{"POST", "/exec/{id}/resize", "ExecResize", SectionExec, 0},
		{"GET", "/exec/{id}/json", "ExecInspect", SectionExec, 0},
		{"GET", "/volumes", "VolumeList", SectionVolumes, 0},
		{"POST", "/volumes/create", "VolumeCreate", SectionVolumes, body},
		{"GET", "/volumes/{name}", "VolumeInspect", SectionVolumes, 0},
		{"PUT", "/volumes/{name}", "VolumeUpdate", SectionVolumes, body},
		{"DELETE", "/volumes/{name}", "VolumeDelete", SectionVolumes, 0},
		{"POST", "/volumes/prune", "VolumePrune", SectionVolumes, 0},
		{"GET", "/networks", "NetworkList", SectionNetworks, 0},
		{"GET", "/networks/{id}", "NetworkInspect", SectionNetworks, 0},
		{"DELETE", "/networks/{id}", "NetworkDelete", SectionNetworks, 0},
		{"POST", "/networks/create", "NetworkCreate", SectionNetworks, body},
		{"POST", "/networks/{id}/connect", "NetworkConnect", SectionNetworks, body},
		{"POST", "/networks/{id}/disconnect", "NetworkDisconnect", SectionNetworks, body},
		{"POST", "/networks/prune", "NetworkPrune", SectionNetworks, 0},
		{"GET", "/plugins", "PluginList", SectionPlugins, 0},
		{"GET", "/plugins/privileges", "GetPluginPrivileges", SectionPlugins, 0},
		{"POST", "/plugins/pull", "PluginPull", SectionPlugins, body | expl},
		{"GET", "/plugins/{name*}/json", "PluginInspect", SectionPlugins, 0},
		{"DELETE", "/plugins/{name*}", "PluginDelete", SectionPlugins, 0},
		{"POST", "/plugins/{name*}/enable", "PluginEnable", SectionPlugins, 0},
		{"POST", "/plugins/{name*}/disable", "PluginDisable", SectionPlugins, 0},
		{"POST", "/plugins/{name*}/upgrade", "PluginUpgrade", SectionPlugins, body | expl},
		{"POST", "/plugins/create", "PluginCreate", SectionPlugins, body | expl},
		{"POST", "/plugins/{name*}/push", "PluginPush", SectionPlugins, 0},
		{"POST", "/plugins/{name*}/set", "PluginSet", SectionPlugins, body | expl},
		{"GET", "/nodes", "NodeList", SectionNodes, 0},
		{"GET", "/nodes/{id}", "NodeInspect", SectionNodes, 0},
		{"DELETE", "/nodes/{id}", "NodeDelete", SectionNodes, 0},
		{"POST", "/nodes/{id}/update", "NodeUpdate", SectionNodes, body},
		{"GET", "/swarm", "SwarmInspect", SectionSwarm, 0},
		{"POST", "/swarm/init", "SwarmInit", SectionSwarm, body},
		{"POST", "/swarm/join", "SwarmJoin", SectionSwarm, body},
		{"POST", "/swarm/leave", "SwarmLeave", SectionSwarm, 0},
		{"POST", "/swarm/update", "SwarmUpdate", SectionSwarm, body},
		{"GET", "/swarm/unlockkey", "SwarmUnlockkey", SectionSwarm, sens},
		{"POST", "/swarm/unlock", "SwarmUnlock", SectionSwarm, body},
		{"GET", "/services", "ServiceList", SectionServices, 0},
		{"POST", "/services/create", "ServiceCreate", SectionServices, body | expl},
		{"GET", "/services/{id}", "ServiceInspect", SectionServices, 0},
		{"DELETE", "/services/{id}", "ServiceDelete", SectionServices, 0},
		{"POST", "/services/{id}/update", "ServiceUpdate", SectionServices, body | expl},
		{"GET", "/services/{id}/logs", "ServiceLogs", SectionServices, watch},
		{"GET", "/tasks", "TaskList", SectionTasks, 0},
		{"GET", "/tasks/{id}", "TaskInspect", SectionTasks, 0},
		{"GET", "/tasks/{id}/logs", "TaskLogs", SectionTasks, watch},
		{"GET", "/secrets", "SecretList", SectionSecrets, 0},
		{"POST", "/secrets/create", "SecretCreate", SectionSecrets, body},
		{"GET", "/secrets/{id}", "SecretInspect", SectionSecrets, 0},
		{"DELETE", "/secrets/{id}", "SecretDelete", SectionSecrets, 0},
		{"POST", "/secrets/{id}/update", "SecretUpdate", SectionSecrets, body},
		{"GET", "/configs", "ConfigList", SectionConfigs, 0},
		{"POST", "/configs/create", "ConfigCreate", SectionConfigs, body},
		{"GET", "/configs/{id}", "ConfigInspect", SectionConfigs, 0},
		{"DELETE", "/configs/{id}", "ConfigDelete", SectionConfigs, 0},
		{"POST", "/configs/{id}/update", "ConfigUpdate", SectionConfigs, body},
		{"GET", "/distribution/{name*}/json", "DistributionInspect", SectionDistribution, 0},
		{"POST", "/session", "Session", SectionSession, hijack | watch | expl},
		{"POST", "/grpc", "Grpc", SectionGrpc, hijack | watch | expl},
	}
	routes := make([]Route, len(rows))
	for i, r := range rows {
		routes[i] = Route{
			Method: r.method, Template: r.template, Operation: r.op, Section: r.section,
			Sensitive: r.flags&sens != 0, Hijack: r.flags&hijack != 0, Watch: r.flags&watch != 0,
			Body: r.flags&body != 0, Explicit: r.flags&expl != 0,
		}
	}
	return routes
}

// RouteTable matches canonical paths to the engine's routes. It is built
// once and read concurrently without locks.
type RouteTable struct {
	routes []Route
	// byFirst indexes routes by method and first path segment.
	byFirst map[string][]*Route
	byOp    map[string]*Route
}

// NewRouteTable compiles the engine's route table.
func NewRouteTable() (*RouteTable, error) {
	t := &RouteTable{
		routes:  engineRoutes(),
		byFirst: make(map[string][]*Route),
		byOp:    make(map[string]*Route),
	}
	for i := range t.routes {
		r := &t.routes[i]
		if err := r.compile(); err != nil {
			return nil, err
		}
		if _, dup := t.byOp[r.Operation]; dup {
			return nil, fmt.Errorf("route table: operation %s named twice", r.Operation)
		}
		t.byOp[r.Operation] = r
		first := strings.SplitN(strings.TrimPrefix(r.Template, "/"), "/", 2)[0]
		key := r.Method + " " + first
		t.byFirst[key] = append(t.byFirst[key], r)
	}
	return t, nil
}

func (r *Route) compile() error {
	segs := strings.Split(strings.TrimPrefix(r.Template, "/"), "/")
	for i, s := range segs {
		if strings.HasSuffix(s, "*}") {
			if r.multi {
				return fmt.Errorf("route table: %s has two multi-segment parameters", r.Template)
			}
			r.multi = true
			r.prefix = segs[:i]
			r.suffix = segs[i+1:]
		}
	}
	if !r.multi {
		r.params = make([]bool, len(segs))
		for i, s := range segs {
			r.params[i] = strings.HasPrefix(s, "{")
		}
		r.prefix = segs
	}
	return nil
}

// Routes returns every route of the table.
func (t *RouteTable) Routes() []Route {
	out := make([]Route, len(t.routes))
	copy(out, t.routes)
	return out
}

// Operation returns the route named by an operation id, or nil.
func (t *RouteTable) Operation(op string) *Route {
	return t.byOp[op]
}

// Match returns the route that a method and canonical path segments (the
// unversioned path split on '/') name, or nil if none does. HEAD falls back
// to the GET route of the same path where the API names no HEAD operation.
// A path that two routes would both claim matches nothing: the filter never
// guesses which one the engine would pick.
func (t *RouteTable) Match(method string, segs []string) *Route {
	if len(segs) == 0 {
		return nil
	}
	r := t.match(method, segs)
	if r == nil && method == "HEAD" {
		r = t.match("GET", segs)
	}
	return r
}

func (t *RouteTable) match(method string, segs []string) *Route {
	var found *Route
	for _, r := range t.byFirst[method+" "+segs[0]] {
		if !r.matches(segs) {
			continue
		}
		if found != nil {
			return nil
		}
		found = r
	}
	return found
}

func (r *Route) matches(segs []string) bool {
	if !r.multi {
		if len(segs) != len(r.prefix) {
			return false
		}
		for i, s := range segs {
			if !r.params[i] && s != r.prefix[i] {
				return false
			}
		}
		return true
	}
	if len(segs) < len(r.prefix)+len(r.suffix)+1 {
		return false
	}
	for i, lit := range r.prefix {
		if segs[i] != lit {
			return false
		}
	}
	tail := segs[len(segs)-len(r.suffix):]
	for i, lit := range r.suffix {
		if tail[i] != lit {
			return false
		}
	}
	return true
}
