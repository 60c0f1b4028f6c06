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

// Grant says how a profile may be given an operation.
type Grant uint8

const (
	// GrantGroup operations come with their section's groups.
	GrantGroup Grant = iota
	// GrantOwnID writes carry privilege the body rules cannot fully
	// bound (a container's resources, services, plugins with the
	// privileges they ask for, joining or making a swarm, BuildKit's
	// session and gRPC API): only their own id grants them.
	GrantOwnID
	// GrantSensitive operations send out what a read-only view should
	// not disclose: a container's files or its stdin, whole images
	// (saved to the client, or pushed to a registry: the same content,
	// sent elsewhere), the swarm's join tokens and unlock key. Only their
	// own id grants them.
	GrantSensitive
)

// Conn says what an operation does with its connection.
type Conn uint8

const (
	// ConnPlain is one request, one bounded answer.
	ConnPlain Conn = iota
	// ConnWatch is an open-ended stream that ends when the client or the
	// engine ends it (events, followed logs, stats): it never times out
	// and is cut at shutdown.
	ConnWatch
	// ConnTunnel may leave HTTP: attach and exec (Upgrade: tcp or the
	// legacy raw stream), websockets, h2c upgrades.
	ConnTunnel
)

// BodyKind says what an operation's request body is and how it is judged.
type BodyKind uint8

const (
	// BodyNone: the operation takes no body, and a request carrying one
	// is refused (old API versions read a HostConfig from
	// ContainerStart's body).
	BodyNone BodyKind = iota
	// BodyData is content the engine stores, unpacks into an image or a
	// container, or configures itself with (archives, build contexts,
	// image tarballs, secrets, registry logins): it grants nothing on
	// the host, so it is forwarded as it streams, unread.
	BodyData
	// The kinds below are read whole, decoded as the engine decodes
	// them, judged by the profile's rules, and forwarded as judged.
	BodyContainerCreate
	BodyExecCreate
	BodyVolumeCreate
	BodyService
	BodyPluginPrivileges
	BodyPluginSettings
	// BodyContainerUpdate is judged for its restart policy, against the
	// container it updates; its resources are the grant's.
	BodyContainerUpdate
)

// Judged reports whether the body is read whole and judged.
func (k BodyKind) Judged() bool { return k >= BodyContainerCreate }

// TargetKind names the existing object an operation reaches into, which
// the profile's rules judge before the request is forwarded.
type TargetKind uint8

const (
	TargetNone TargetKind = iota
	// TargetContainer: the container named in the path. Running code in
	// it, reading or writing its files, its stdin, starting or
	// committing it hand the caller the container's reach.
	TargetContainer
	// TargetContainerQuery: the container named by the "container"
	// query parameter (ImageCommit).
	TargetContainerQuery
	// TargetExec: the exec named in the path, and its container.
	TargetExec
)

// AnswerKind names what an operation's answer shows that a profile's view
// may hide: containers (by label) and environment values.
type AnswerKind uint8

const (
	AnswerPlain         AnswerKind = iota
	AnswerContainer                // one container's inspect: labels, Config.Env
	AnswerContainerList            // the container list: labels
	AnswerEvents                   // the events stream: container labels
	AnswerService                  // one service: its spec's environment
	AnswerServiceList
	AnswerTask // one task: its spec's environment
	AnswerTaskList
	AnswerImage  // one image's inspect: its config's environment
	AnswerPlugin // one plugin: its settings' and manifest's environment
	AnswerPluginList
	AnswerImageHistory // an image's build steps: their ENV, ARG and build-arg values
)

// QueryJudge names how a query parameter the engine reads is judged.
type QueryJudge uint8

const (
	// QueryFree parameters change what is shown or done within what
	// the operation is; the profile's grant covers them.
	QueryFree QueryJudge = iota
	// QueryBuildNetwork is a build's network mode: a namespace rule.
	QueryBuildNetwork
	// QueryCgroupParent is a build's cgroup parent.
	QueryCgroupParent
	// QueryRemoteFetch makes the engine fetch a URL from the host's
	// network (a build's remote context, an import's source).
	QueryRemoteFetch
	// QueryBuilderVersion picks the builder: BuildKit builds run over
	// Session and Grpc, granted by their own ids.
	QueryBuilderVersion
	// QueryRollback restores an earlier service spec the body does not
	// carry.
	QueryRollback
	// QueryPsArgs are the options ContainerTop passes to the host's ps,
	// some of which print process environments.
	QueryPsArgs
	// QueryTarget names the operation's target container.
	QueryTarget
	// QueryStopWait is how long the engine waits before it answers (a
	// stop's t): the filter waits as long for the answer.
	QueryStopWait
	// QueryRegistryRef is an image or plugin reference whose registry
	// the engine reaches, on the host's network.
	QueryRegistryRef
	// QueryBuildOutputs says where a build's result goes: into the
	// engine's images, to the client as a save would, or to a registry
	// as a push would.
	QueryBuildOutputs
)

// queryJudgeNames are the judges a route's query spec may name.
func queryJudgeNames() map[string]QueryJudge {
	return map[string]QueryJudge{
		"network": QueryBuildNetwork, "cgroup-parent": QueryCgroupParent, "remote": QueryRemoteFetch,
		"builder": QueryBuilderVersion, "rollback": QueryRollback, "ps-args": QueryPsArgs, "target": QueryTarget,
		"wait": QueryStopWait, "registry": QueryRegistryRef, "outputs": QueryBuildOutputs,
	}
}

// Param is a query parameter the engine reads for an operation.
type Param struct {
	Name  string
	Judge QueryJudge
}

// Route is one operation of the Docker Engine API: an HTTP method and a path
// template, named by the API's operation id, with the traits that decide
// how a request for it is judged.
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

	Grant  Grant
	Conn   Conn
	Body   BodyKind
	Target TargetKind
	Answer AnswerKind
	// PathRef says the path's reference names a registry the engine
	// reaches (a push, a distribution inspect): judged as such.
	PathRef bool
	// Query lists every query parameter the engine reads (the API
	// reference's, and those its router reads beyond it), each with how
	// it is judged. The engine reads them with FormValue, which prefers
	// a form body: form bodies are refused on every operation.
	Query []Param

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

// Judges returns how the engine's query parameter name is judged, and
// whether the operation reads it at all.
func (r *Route) Judges(name string) (QueryJudge, bool) {
	for _, p := range r.Query {
		if p.Name == name {
			return p.Judge, true
		}
	}
	return QueryFree, false
}

// trait sets one column of a route.
type trait func(*Route) error

func grant(g Grant) trait       { return func(r *Route) error { r.Grant = g; return nil } }
func conn(c Conn) trait         { return func(r *Route) error { r.Conn = c; return nil } }
func body(k BodyKind) trait     { return func(r *Route) error { r.Body = k; return nil } }
func target(k TargetKind) trait { return func(r *Route) error { r.Target = k; return nil } }
func answer(k AnswerKind) trait { return func(r *Route) error { r.Answer = k; return nil } }
func pathRef() trait            { return func(r *Route) error { r.PathRef = true; return nil } }
func sensitive() trait          { return grant(GrantSensitive) }
func ownID() trait              { return grant(GrantOwnID) }
func watch() trait              { return conn(ConnWatch) }
func tunnel() trait             { return conn(ConnTunnel) }
func data() trait               { return body(BodyData) }
func inContainer() trait        { return target(TargetContainer) }
func (r *Route) String() string { return r.Method + " " + r.Template + " (" + r.Operation + ")" }
func (k BodyKind) String() string {
	return [...]string{
		BodyNone: "none", BodyData: "data, forwarded unread", BodyContainerCreate: "container create",
		BodyExecCreate: "exec create", BodyVolumeCreate: "volume create", BodyService: "service spec",
		BodyPluginPrivileges: "plugin privileges", BodyPluginSettings: "plugin settings", BodyContainerUpdate: "container update",
	}[k]
}

// query lists the parameters the engine reads, space-separated, each
// free or "name=judge" with a judge of queryJudgeNames.
func query(spec string) trait {
	return func(r *Route) error {
		for _, f := range strings.Fields(spec) {
			name, judge, judged := strings.Cut(f, "=")
			p := Param{Name: name}
			if judged {
				j, ok := queryJudgeNames()[judge]
				if !ok {
					return fmt.Errorf("route table: %s: query judge %q unknown", r.Operation, judge)
				}
				p.Judge = j
			}
			r.Query = append(r.Query, p)
		}
		return nil
	}
}

// route builds one row of the table.
func route(method, template, op, section string, traits ...trait) routeRow {
	return routeRow{Route{Method: method, Template: template, Operation: op, Section: section}, traits}
}

type routeRow struct {
	r      Route
	traits []trait
}

const logsQuery = "follow stdout stderr since until timestamps tail details"

// engineRoutes is the engine's HTTP API (API version 1.56 and earlier),
// in the order of the Engine API reference. Operations missing from the
// reference but served by the engine (POST /grpc) are named here after their
// tecnativa section. Query parameters come from the reference and the
// engine's routers (moby daemon/server/router).
func engineRoutes() []routeRow {
	return []routeRow{
		route("GET", "/containers/json", "ContainerList", SectionContainers, query("all limit size filters before since"), answer(AnswerContainerList)),
		route("POST", "/containers/create", "ContainerCreate", SectionContainers, query("name platform"), body(BodyContainerCreate)),
		route("GET", "/containers/{id}/json", "ContainerInspect", SectionContainers, query("size"), answer(AnswerContainer)),
		route("GET", "/containers/{id}/top", "ContainerTop", SectionContainers, query("ps_args=ps-args")),
		route("GET", "/containers/{id}/logs", "ContainerLogs", SectionContainers, query(logsQuery), watch()),
		route("GET", "/containers/{id}/changes", "ContainerChanges", SectionContainers),
		route("GET", "/containers/{id}/export", "ContainerExport", SectionContainers, sensitive(), inContainer()),
		route("GET", "/containers/{id}/stats", "ContainerStats", SectionContainers, query("stream one-shot"), watch()),
		route("POST", "/containers/{id}/resize", "ContainerResize", SectionContainers, query("h w")),
		route("POST", "/containers/{id}/start", "ContainerStart", SectionContainers, query("detachKeys checkpoint checkpoint-dir"), inContainer()),
		route("POST", "/containers/{id}/stop", "ContainerStop", SectionContainers, query("signal t=wait")),
		route("POST", "/containers/{id}/restart", "ContainerRestart", SectionContainers, query("signal t=wait"), inContainer()),
		route("POST", "/containers/{id}/kill", "ContainerKill", SectionContainers, query("signal")),
		route("POST", "/containers/{id}/update", "ContainerUpdate", SectionContainers, body(BodyContainerUpdate), ownID(), inContainer()),
		route("POST", "/containers/{id}/rename", "ContainerRename", SectionContainers, query("name")),
		route("POST", "/containers/{id}/pause", "ContainerPause", SectionContainers),
		route("POST", "/containers/{id}/unpause", "ContainerUnpause", SectionContainers),
		route("POST", "/containers/{id}/attach", "ContainerAttach", SectionContainers, query("detachKeys logs stream stdin stdout stderr"), tunnel(), inContainer()),
		route("GET", "/containers/{id}/attach/ws", "ContainerAttachWebsocket", SectionContainers, query("detachKeys logs stream stdin stdout stderr"), sensitive(), tunnel(), inContainer()),
		route("POST", "/containers/{id}/wait", "ContainerWait", SectionContainers, query("condition"), watch()),
		route("DELETE", "/containers/{id}", "ContainerDelete", SectionContainers, query("v force link")),
		route("HEAD", "/containers/{id}/archive", "ContainerArchiveInfo", SectionContainers, query("path"), sensitive(), inContainer()),
		route("GET", "/containers/{id}/archive", "ContainerArchive", SectionContainers, query("path"), sensitive(), inContainer()),
		route("PUT", "/containers/{id}/archive", "PutContainerArchive", SectionContainers, query("path noOverwriteDirNonDir copyUIDGID"), data(), inContainer()),
		route("POST", "/containers/prune", "ContainerPrune", SectionContainers, query("filters")),
		route("GET", "/images/json", "ImageList", SectionImages, query("all filters shared-size digests manifests identity")),
		route("POST", "/build", "ImageBuild", SectionBuild, data(), query("dockerfile t extrahosts remote=remote q nocache cachefrom pull rm forcerm "+
			"memory memswap cpushares cpusetcpus cpuperiod cpuquota buildargs shmsize squash labels networkmode=network "+
			"platform target outputs=outputs version=builder cgroupparent=cgroup-parent isolation ulimits session buildid")),
		route("POST", "/build/prune", "BuildPrune", SectionBuild, query("reserved-space max-used-space min-free-space keep-storage all filters")),
		route("POST", "/images/create", "ImageCreate", SectionImages, data(), query("fromImage=registry fromSrc=remote repo tag message changes platform")),
		route("GET", "/images/{name*}/json", "ImageInspect", SectionImages, query("manifests platform"), answer(AnswerImage)),
		route("GET", "/images/{name*}/attestations", "ImageAttestations", SectionImages, query("platform type statement")),
		route("GET", "/images/{name*}/history", "ImageHistory", SectionImages, query("platform"), answer(AnswerImageHistory)),
		route("POST", "/images/{name*}/push", "ImagePush", SectionImages, query("tag platform"), pathRef(), sensitive()),
		route("POST", "/images/{name*}/tag", "ImageTag", SectionImages, query("repo tag")),
		route("DELETE", "/images/{name*}", "ImageDelete", SectionImages, query("force noprune platforms")),
		route("GET", "/images/search", "ImageSearch", SectionImages, query("term=registry limit filters")),
		route("POST", "/images/prune", "ImagePrune", SectionImages, query("filters")),
		route("POST", "/auth", "SystemAuth", SectionAuth, data()),
		route("GET", "/info", "SystemInfo", SectionInfo),
		route("GET", "/version", "SystemVersion", SectionVersion),
		route("GET", "/_ping", "SystemPing", SectionPing),
		route("HEAD", "/_ping", "SystemPingHead", SectionPing),
		route("POST", "/commit", "ImageCommit", SectionCommit, data(), target(TargetContainerQuery), query("container=target repo tag comment author pause changes")),
		route("GET", "/events", "SystemEvents", SectionEvents, query("since until filters"), watch(), answer(AnswerEvents)),
		route("GET", "/system/df", "SystemDataUsage", SectionSystem, query("type verbose")),
		route("GET", "/images/{name*}/get", "ImageGet", SectionImages, query("platform"), sensitive()),
		route("GET", "/images/get", "ImageGetAll", SectionImages, query("names platform"), sensitive()),
		route("POST", "/images/load", "ImageLoad", SectionImages, query("quiet platform"), data()),
		route("POST", "/containers/{id}/exec", "ContainerExec", SectionContainers, body(BodyExecCreate), inContainer()),
		route("POST", "/exec/{id}/start", "ExecStart", SectionExec, data(), tunnel(), target(TargetExec)),
		route("POST", "/exec/{id}/resize", "ExecResize", SectionExec, query("h w")),
		route("GET", "/exec/{id}/json", "ExecInspect", SectionExec),
		route("GET", "/volumes", "VolumeList", SectionVolumes, query("filters")),
		route("POST", "/volumes/create", "VolumeCreate", SectionVolumes, body(BodyVolumeCreate)),
		route("GET", "/volumes/{name}", "VolumeInspect", SectionVolumes),
		route("PUT", "/volumes/{name}", "VolumeUpdate", SectionVolumes, query("version"), data()),
		route("DELETE", "/volumes/{name}", "VolumeDelete", SectionVolumes, query("force")),
		route("POST", "/volumes/prune", "VolumePrune", SectionVolumes, query("filters")),
		route("GET", "/networks", "NetworkList", SectionNetworks, query("filters")),
		route("GET", "/networks/{id}", "NetworkInspect", SectionNetworks, query("verbose scope")),
		route("DELETE", "/networks/{id}", "NetworkDelete", SectionNetworks),
		route("POST", "/networks/create", "NetworkCreate", SectionNetworks, data()),
		route("POST", "/networks/{id}/connect", "NetworkConnect", SectionNetworks, data()),
		route("POST", "/networks/{id}/disconnect", "NetworkDisconnect", SectionNetworks, data()),
		route("POST", "/networks/prune", "NetworkPrune", SectionNetworks, query("filters")),
		route("GET", "/plugins", "PluginList", SectionPlugins, query("filters"), answer(AnswerPluginList)),
		route("GET", "/plugins/privileges", "GetPluginPrivileges", SectionPlugins, query("remote=registry")),
		route("POST", "/plugins/pull", "PluginPull", SectionPlugins, query("remote=registry name"), body(BodyPluginPrivileges), ownID()),
		route("GET", "/plugins/{name*}/json", "PluginInspect", SectionPlugins, answer(AnswerPlugin)),
		route("DELETE", "/plugins/{name*}", "PluginDelete", SectionPlugins, query("force"), answer(AnswerPlugin)),
		route("POST", "/plugins/{name*}/enable", "PluginEnable", SectionPlugins, query("timeout")),
		route("POST", "/plugins/{name*}/disable", "PluginDisable", SectionPlugins, query("force")),
		route("POST", "/plugins/{name*}/upgrade", "PluginUpgrade", SectionPlugins, query("remote=registry"), body(BodyPluginPrivileges), ownID()),
		route("POST", "/plugins/create", "PluginCreate", SectionPlugins, query("name"), data(), ownID()),
		route("POST", "/plugins/{name*}/push", "PluginPush", SectionPlugins, pathRef(), sensitive()),
		route("POST", "/plugins/{name*}/set", "PluginSet", SectionPlugins, body(BodyPluginSettings), ownID()),
		route("GET", "/nodes", "NodeList", SectionNodes, query("filters")),
		route("GET", "/nodes/{id}", "NodeInspect", SectionNodes),
		route("DELETE", "/nodes/{id}", "NodeDelete", SectionNodes, query("force")),
		route("POST", "/nodes/{id}/update", "NodeUpdate", SectionNodes, query("version"), data()),
		route("GET", "/swarm", "SwarmInspect", SectionSwarm, sensitive()),
		route("POST", "/swarm/init", "SwarmInit", SectionSwarm, data(), ownID()),
		route("POST", "/swarm/join", "SwarmJoin", SectionSwarm, data(), ownID()),
		route("POST", "/swarm/leave", "SwarmLeave", SectionSwarm, query("force")),
		route("POST", "/swarm/update", "SwarmUpdate", SectionSwarm, query("version rotateWorkerToken rotateManagerToken rotateManagerUnlockKey"), data(), ownID()),
		route("GET", "/swarm/unlockkey", "SwarmUnlockkey", SectionSwarm, sensitive()),
		route("POST", "/swarm/unlock", "SwarmUnlock", SectionSwarm, data()),
		route("GET", "/services", "ServiceList", SectionServices, query("filters status"), answer(AnswerServiceList)),
		route("POST", "/services/create", "ServiceCreate", SectionServices, body(BodyService), ownID()),
		route("GET", "/services/{id}", "ServiceInspect", SectionServices, query("insertDefaults"), answer(AnswerService)),
		route("DELETE", "/services/{id}", "ServiceDelete", SectionServices),
		route("POST", "/services/{id}/update", "ServiceUpdate", SectionServices, query("version registryAuthFrom rollback=rollback"), body(BodyService), ownID()),
		route("GET", "/services/{id}/logs", "ServiceLogs", SectionServices, query(logsQuery), watch()),
		route("GET", "/tasks", "TaskList", SectionTasks, query("filters"), answer(AnswerTaskList)),
		route("GET", "/tasks/{id}", "TaskInspect", SectionTasks, answer(AnswerTask)),
		route("GET", "/tasks/{id}/logs", "TaskLogs", SectionTasks, query(logsQuery), watch()),
		route("GET", "/secrets", "SecretList", SectionSecrets, query("filters")),
		route("POST", "/secrets/create", "SecretCreate", SectionSecrets, data()),
		route("GET", "/secrets/{id}", "SecretInspect", SectionSecrets),
		route("DELETE", "/secrets/{id}", "SecretDelete", SectionSecrets),
		route("POST", "/secrets/{id}/update", "SecretUpdate", SectionSecrets, query("version"), data()),
		route("GET", "/configs", "ConfigList", SectionConfigs, query("filters")),
		route("POST", "/configs/create", "ConfigCreate", SectionConfigs, data()),
		route("GET", "/configs/{id}", "ConfigInspect", SectionConfigs),
		route("DELETE", "/configs/{id}", "ConfigDelete", SectionConfigs),
		route("POST", "/configs/{id}/update", "ConfigUpdate", SectionConfigs, query("version"), data()),
		route("GET", "/distribution/{name*}/json", "DistributionInspect", SectionDistribution, pathRef()),
		route("POST", "/session", "Session", SectionSession, tunnel(), ownID()),
		route("POST", "/grpc", "Grpc", SectionGrpc, tunnel(), ownID()),
	}
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
	rows := engineRoutes()
	routes := make([]Route, len(rows))
	for i, row := range rows {
		routes[i] = row.r
		for _, t := range row.traits {
			if err := t(&routes[i]); err != nil {
				return nil, err
			}
		}
	}
	return newRouteTable(routes)
}

func newRouteTable(routes []Route) (*RouteTable, error) {
	t := &RouteTable{
		routes:  routes,
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
	if (r.Target == TargetContainer || r.Target == TargetExec) && !strings.HasPrefix(r.Template, "/"+r.Section+"/{id}/") {
		return fmt.Errorf("route table: %s targets the object in its path, but has none", r.Operation)
	}
	if r.PathRef && !strings.Contains(r.Template, "*}") {
		return fmt.Errorf("route table: %s judges a reference in its path, but has none", r.Operation)
	}
	if _, ok := r.Judges("container"); (r.Target == TargetContainerQuery) != ok {
		return fmt.Errorf("route table: %s: a container query target needs its container parameter, and only then", r.Operation)
	}
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

// Param returns the path's parameter: the segments a {x*} parameter spans
// joined, or the single {x} segment.
func (r *Route) Param(segs []string) string {
	if r.multi {
		return strings.Join(segs[len(r.prefix):len(segs)-len(r.suffix)], "/")
	}
	for i, isParam := range r.params {
		if isParam {
			return segs[i]
		}
	}
	return ""
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

func (g Grant) String() string {
	return [...]string{GrantGroup: "groups", GrantOwnID: "own id only", GrantSensitive: "own id only (sensitive)"}[g]
}

func (c Conn) String() string {
	return [...]string{ConnPlain: "plain", ConnWatch: "stream, no timeout", ConnTunnel: "tunnel (attach, exec, upgrade)"}[c]
}

func (k TargetKind) String() string {
	return [...]string{
		TargetNone: "", TargetContainer: "container in the path", TargetContainerQuery: "container in the query",
		TargetExec: "exec in the path, and its container",
	}[k]
}

func (k AnswerKind) String() string {
	return [...]string{
		AnswerPlain: "", AnswerContainer: "container: label, env", AnswerContainerList: "containers: label",
		AnswerEvents: "events: container label", AnswerService: "service: env", AnswerServiceList: "services: env",
		AnswerTask: "task: env", AnswerTaskList: "tasks: env", AnswerImage: "image: env",
		AnswerPlugin: "plugin: env", AnswerPluginList: "plugins: env", AnswerImageHistory: "build steps: env",
	}[k]
}

func (j QueryJudge) String() string {
	return [...]string{
		QueryFree: "", QueryBuildNetwork: "host_namespaces", QueryCgroupParent: "cgroup_parent",
		QueryRemoteFetch: "remote_fetch", QueryBuilderVersion: "BuildKit needs Session", QueryRollback: "refused",
		QueryPsArgs: "no environment when env is redacted", QueryTarget: "target container, judged",
		QueryStopWait: "the filter waits as long for the answer", QueryRegistryRef: "registry: Docker Hub unless remote_fetch",
		QueryBuildOutputs: "to the client needs ImageGet, a push ImagePush and remote_fetch",
	}[j]
}
