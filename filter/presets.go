package filter

import (
	"fmt"
	"slices"
	"strings"
)

// PresetPrefix marks a built-in profile's name in a policy file:
// "preset/traefik".
const PresetPrefix = "preset/"

// Preset is a built-in profile for one client: exactly the operations
// the client calls, the view it needs, and for the clients that write,
// the rules their writes are judged by.
type Preset struct {
	Name        string // without PresetPrefix
	Client      string // the client, as its users know it
	Description string // one line: what it may do
	Checked     string // the client version whose source the calls were checked against
	Allow       []string
	View        View
	Create      CreateRules // the zero value is the safe set
	Exec        ExecRules
}

// pingOps are what every client that negotiates the API version calls
// first: HEAD, falling back to GET.
func pingOps() []string { return []string{"SystemPingHead", "SystemPing"} }

// Presets returns the catalogue, sorted by name. The table is built on
// each call so that no caller can change another's.
//
// Every write a preset allows is judged by the zero CreateRules and
// ExecRules, the safe set: a container it starts, restarts, creates or
// execs into must not be privileged, share the host's namespaces, mount
// host paths, add capabilities or devices, or weaken its security
// options; on cgroup v1 hosts a create must ask for a private cgroup
// namespace.
func Presets() []Preset {
	redact := View{RedactEnv: true}
	ping := pingOps()
	with := func(ops ...[]string) []string { return slices.Concat(ops...) }
	list := []Preset{
		{
			// pkg/provider/docker/pdocker.go: ServerVersion, then
			// ContainerList(all) and ContainerInspect per container (and
			// of the container a network_mode container: names). It reads
			// labels, state, health and networks, never Config.Env.
			Name: "traefik", Client: "Traefik, Docker provider, watch off",
			Description: "ping, version, list and inspect containers",
			Checked:     "Traefik v3.6 (pkg/provider/docker)",
			Allow:       with(ping, []string{"SystemVersion", "ContainerList", "ContainerInspect"}),
			View:        redact,
		},
		{
			// As traefik, plus with watch (the default) one long-lived
			// GET /events filtered to type=container.
			Name: "traefik-watch", Client: "Traefik, Docker provider, watch on (the default)",
			Description: "as traefik, and follow container events",
			Checked:     "Traefik v3.6 (pkg/provider/docker)",
			Allow:       with(ping, []string{"SystemVersion", "ContainerList", "ContainerInspect", "SystemEvents"}),
			View:        redact,
		},
		{
			// pkg/provider/docker/pswarm.go: ServerVersion, ServiceList,
			// NetworkList (scope=swarm), TaskList per service, NodeInspect
			// per task's node; polls every refreshSeconds, no events.
			Name: "traefik-swarm", Client: "Traefik, Swarm provider",
			Description: "ping, version, list services, networks and tasks, inspect nodes",
			Checked:     "Traefik v3.6 (pkg/provider/docker/pswarm.go)",
			Allow:       with(ping, []string{"SystemVersion", "ServiceList", "NetworkList", "TaskList", "NodeInspect"}),
			View:        redact,
		},
		{
			// dockerode, unversioned paths, container names:
			// service-helpers/docker.js lists all containers for labels;
			// api/docker/status inspects by name (State, Health), newer
			// main reads status from the list alone; api/docker/stats
			// lists, then stats?stream=false. Its swarm: mode (services,
			// tasks) is not granted.
			Name: "homepage", Client: "Homepage",
			Description: "list and inspect containers, one-shot stats",
			Checked:     "Homepage v1.x and main of 2026 (src/pages/api/docker, src/utils/config/service-helpers/docker.js)",
			Allow:       []string{"ContainerList", "ContainerInspect", "ContainerStats"},
			View:        redact,
		},
		{
			// internal/docker/client.go: ping for negotiation, Info (the
			// engine version comes from Info.ServerVersion: no GET
			// /version), ContainerList(all), ContainerInspect,
			// ContainerLogs (follow, and since/until ranges),
			// ContainerStats (stream), Events. Never Config.Env.
			Name: "dozzle", Client: "Dozzle, read-only",
			Description: "info, list and inspect containers, follow logs, stats and events",
			Checked:     "Dozzle v8 and main of 2026 (internal/docker/client.go)",
			Allow:       dozzleReads(),
			View:        redact,
		},
		{
			// As dozzle, with its container actions enabled
			// (DOZZLE_ENABLE_ACTIONS): ContainerActions starts, stops,
			// restarts and removes (DELETE without force). Start and
			// restart are judged against the safe create rules: Dozzle
			// cannot start a container that would make it root. Not
			// granted: the shell (DOZZLE_ENABLE_SHELL: attach, exec) and
			// the update action, which pulls and recreates the container
			// with its old HostConfig, as an updater does.
			Name: "dozzle-actions", Client: "Dozzle, with actions",
			Description: "as dozzle, and start, stop, restart, remove containers (start and restart: safe create rules)",
			Checked:     "Dozzle v8 and main of 2026 (internal/docker/client.go ContainerActions)",
			Allow:       with(dozzleReads(), []string{"ContainerStart", "ContainerStop", "ContainerRestart", "ContainerDelete"}),
			View:        redact,
		},
		{
			// The snapshot (pkg/snapshot/docker.go): ping, Info,
			// ContainerList(all), ContainerInspect of running containers,
			// ImageList, VolumeList, NetworkList, ServerVersion; on a
			// swarm manager also ServiceList and NodeList, not granted
			// here (it logs and goes on). The read-only views add top,
			// logs, stats, events, image inspect and history, network,
			// plugin and volume reads. ContainerTop's ps_args cannot show
			// environments while env is redacted.
			Name: "portainer-readonly", Client: "Portainer, read-only use",
			Description: "read containers (top, logs, stats), events, images, info, networks, plugins, version, volumes",
			Checked:     "Portainer CE 2.2x (pkg/snapshot/docker.go; the UI's read views)",
			Allow: with(ping, []string{
				"ContainerList", "ContainerInspect", "ContainerTop", "ContainerLogs", "ContainerStats",
				"SystemEvents", "ImageList", "ImageInspect", "ImageHistory", "SystemInfo", "SystemVersion",
				"NetworkList", "NetworkInspect", "PluginList", "VolumeList", "VolumeInspect",
			}),
			View: redact,
		},
		{
			// server/docker.js testDockerHost: GET
			// /containers/json?all=true; server/model/monitor.js, type
			// docker: GET /containers/{name}/json per beat (State,
			// Health). Axios, unversioned; no ping, no version; names as
			// typed.
			Name: "uptime-kuma", Client: "Uptime Kuma",
			Description: "list and inspect containers",
			Checked:     "Uptime Kuma 2.0 (server/docker.js, server/model/monitor.js)",
			Allow:       []string{"ContainerList", "ContainerInspect"},
			View:        redact,
		},
		{
			// internal/glance/widget-docker-containers.go: its own HTTP
			// client, one unversioned GET /containers/json?all=true (or
			// false with running-only), reading Names, Image, State,
			// Status and glance.* labels.
			Name: "glance", Client: "Glance",
			Description: "list containers",
			Checked:     "Glance v0.8 (internal/glance/widget-docker-containers.go)",
			Allow:       []string{"ContainerList"},
			View:        redact,
		},
		{
			// pkg/docker/client.go: negotiation, then ServerVersion to
			// check the endpoint; internal/provider/docker/container.go:
			// ContainerList filtered by status, ImageInspect by the
			// container's image reference, which may have many segments
			// (ghcr.io/o/app:tag).
			Name: "diun", Client: "Diun, Docker provider",
			Description: "ping, version, list containers, inspect images",
			Checked:     "Diun v4.29 (pkg/docker, internal/provider/docker/container.go)",
			Allow:       with(ping, []string{"SystemVersion", "ContainerList", "ImageInspect"}),
			View:        redact,
		},
		{
			// pkg/docker/client.go and service.go: negotiation,
			// ServerVersion, ServiceList; internal/provider/swarm:
			// ImageInspect of the services' images.
			Name: "diun-swarm", Client: "Diun, Swarm provider",
			Description: "ping, version, list services, inspect images",
			Checked:     "Diun v4.29 (pkg/docker, internal/provider/swarm/service.go)",
			Allow:       with(ping, []string{"SystemVersion", "ServiceList", "ImageInspect"}),
			View:        redact,
		},
		{
			// go.d collector/docker/collect.go: negotiation, Info,
			// ImageList, ContainerList(all, a health filter each, size
			// if configured); its container-ls function lists all.
			// cgroup-name (the script, now a Go helper) inspects each new
			// cgroup's container over the API for its name.
			Name: "netdata", Client: "Netdata (go.d docker collector, cgroup naming)",
			Description: "info, list containers and images, inspect containers",
			Checked:     "Netdata v2.x (src/go/plugin/go.d/collector/docker, cgroup-name)",
			Allow:       with(ping, []string{"SystemInfo", "ContainerList", "ImageList", "ContainerInspect"}),
			View:        redact,
		},
		{
			// As netdata; on Nomad, cgroup-name names containers from
			// the NOMAD_* variables in Config.Env, so values must show.
			Name: "netdata-nomad", Client: "Netdata on Nomad",
			Description: "as netdata, with environment values shown (Nomad task naming reads them)",
			Checked:     "Netdata v2.x (src/go/plugin/go.d/collector/docker, cgroup-name)",
			Allow:       with(ping, []string{"SystemInfo", "ContainerList", "ImageList", "ContainerInspect"}),
		},
		{
			// container/docker client.go (negotiation), docker.go (Info,
			// ServerVersion, ImageList), handler.go (ContainerInspect per
			// cgroup, labels and, for the env whitelist, Config.Env).
			Name: "cadvisor", Client: "cAdvisor",
			Description: "ping, version, info, inspect containers, list images",
			Checked:     "cAdvisor v0.52 (container/docker: client.go, docker.go, handler.go)",
			Allow:       with(ping, []string{"SystemVersion", "SystemInfo", "ContainerInspect", "ImageList"}),
			View:        redact,
		},
		{
			// As cadvisor, for --env_metadata_whitelist, which exports
			// chosen Config.Env values as metric labels.
			Name: "cadvisor-env", Client: "cAdvisor with --env_metadata_whitelist",
			Description: "as cadvisor, with environment values shown",
			Checked:     "cAdvisor v0.52 (container/docker: client.go, docker.go, handler.go)",
			Allow:       with(ping, []string{"SystemVersion", "SystemInfo", "ContainerInspect", "ImageList"}),
		},
		{
			// agent/docker.go: its own HTTP client, unversioned paths:
			// GET /containers/json, stats?stream=0&one-shot=1 by short
			// id, /version, /containers/{id}/json (it drops Config.Env
			// itself), logs?stdout=1&stderr=1&tail=200, /info for the
			// host; the image update check (docker_image_updates.go)
			// inspects each container's image for its RepoDigests.
			// DOCKER_VOLUME_INTERVAL adds GET /system/df?type=volume,
			// not granted: extend the preset with SystemDataUsage.
			Name: "beszel-agent", Client: "Beszel agent",
			Description: "list and inspect containers, one-shot stats, logs, inspect images, version, info",
			Checked:     "Beszel v0.12 and main of 2026 (agent/docker.go, docker_image_updates.go)",
			Allow: []string{"ContainerList", "ContainerStats", "ContainerInspect", "ContainerLogs", "ImageInspect",
				"SystemVersion", "SystemInfo"},
			View: redact,
		},
		{
			// docker-entrypoint (curl, unversioned): a poll of GET
			// /containers/json?filters={"health":["unhealthy"],...}, then
			// POST /containers/{id}/restart?t=N; the image's health
			// check GETs /_ping. No version, no events, no inspect. The
			// restart is its only write, judged against the container as
			// created: one that would fail the safe create rules
			// (privileged, host binds, host namespaces) is not restarted.
			Name: "autoheal", Client: "Autoheal",
			Description: "ping, list unhealthy containers, restart containers that pass the safe create rules",
			Checked:     "Autoheal 1.x, willfarrell/docker-autoheal main (docker-entrypoint)",
			Allow:       []string{"SystemPing", "ContainerList", "ContainerRestart"},
			View:        redact,
		},
		{
			// dockerode: api/src/router/docker/docker-router.ts lists all,
			// inspects to find a container, then starts, stops,
			// restarts, removes; request-handler/src/docker.ts reads
			// one-shot stats and logs.
			Name: "homarr", Client: "Homarr 1.x",
			Description: "list, inspect, stats, logs; start, stop, restart, remove containers (start and restart: safe create rules)",
			Checked:     "Homarr v1.x (packages/api/src/router/docker, packages/request-handler/src/docker.ts)",
			Allow: []string{"ContainerList", "ContainerInspect", "ContainerStats", "ContainerLogs",
				"ContainerStart", "ContainerStop", "ContainerRestart", "ContainerDelete"},
			View: redact,
		},
		{
			// pkg/container/client.go: ping, Info, system df, list and
			// inspect containers, stop, remove, create from the old
			// container's config, start, rename, update (restart
			// policy), exec for lifecycle hooks, image inspect, pull and
			// remove, network connect. It recreates each container with
			// the HostConfig it had: the create rules must be as wide as
			// the widest container it manages. The preset's are the safe
			// set; extending it with wider create: rules makes the
			// updater exactly that powerful.
			Name: "watchtower", Client: "Watchtower (nicholas-fedor fork)",
			Description: "recreate containers with new images: pull, create, start, stop, rename, remove; exec hooks (safe create rules only)",
			Checked:     "Watchtower, nicholas-fedor fork, main of 2026 (pkg/container/client.go, moby/moby client)",
			Allow: with(ping, []string{
				"SystemInfo", "SystemVersion", "SystemDataUsage",
				"ContainerList", "ContainerInspect", "ContainerCreate", "ContainerStart", "ContainerStop",
				"ContainerKill", "ContainerRename", "ContainerUpdate", "ContainerDelete",
				"ContainerExec", "ExecStart", "ExecInspect",
				"ImageInspect", "ImageCreate", "ImageDelete", "NetworkConnect",
			}),
		},
		{
			// The docker CLI's ps, images, logs (inspect, then logs),
			// inspect (container, else image), stats (list, events,
			// stats stream), events, version, info: HEAD /_ping first,
			// then versioned paths.
			Name: "docker-cli-readonly", Client: "docker CLI, read-only commands",
			Description: "ps, images, logs, inspect, stats, events, version, info",
			Checked:     "docker CLI 26-28 (cli/command/container, image, system, inspect)",
			Allow: with(ping, []string{"ContainerList", "ContainerInspect", "ContainerLogs", "ContainerStats",
				"SystemEvents", "ImageList", "ImageInspect", "SystemVersion", "SystemInfo"}),
			View: redact,
		},
		{
			// Prometheus docker_sd_configs (discovery/moby/docker.go):
			// negotiation, ContainerList with the configured filters,
			// NetworkList for network labels. Exporters that only list
			// containers need no more.
			Name: "prometheus-docker-sd", Client: "Prometheus docker_sd_configs, exporters that list containers",
			Description: "ping, list containers and networks",
			Checked:     "Prometheus v3.x (discovery/moby/docker.go)",
			Allow:       with(ping, []string{"ContainerList", "NetworkList"}),
			View:        redact,
		},
	}
	slices.SortFunc(list, func(a, b Preset) int { return strings.Compare(a.Name, b.Name) })
	return list
}

func dozzleReads() []string {
	return slices.Concat(pingOps(), []string{"SystemInfo", "ContainerList", "ContainerInspect",
		"ContainerLogs", "ContainerStats", "SystemEvents"})
}

// LookupPreset returns the preset a profile name refers to
// ("preset/traefik"), and whether the name is a preset's at all.
func LookupPreset(profile string) (Preset, bool, error) {
	name, ok := strings.CutPrefix(profile, PresetPrefix)
	if !ok {
		return Preset{}, false, nil
	}
	for _, p := range Presets() {
		if p.Name == name {
			return p, true, nil
		}
	}
	names := make([]string, 0, 24)
	for _, p := range Presets() {
		names = append(names, p.Name)
	}
	return Preset{}, true, fmt.Errorf("%q is not a preset (presets: %s)", profile, strings.Join(names, ", "))
}

// Profile builds the preset's profile, named PresetPrefix+Name.
func (p *Preset) Profile(table *RouteTable) (*Profile, error) {
	return p.Extend(table, PresetPrefix+p.Name, nil, Override{})
}

// Override is what a profile that extends a preset sets itself. A field
// left nil keeps the preset's.
type Override struct {
	Create    *CreateRules
	Exec      *ExecRules
	RedactEnv *bool
	Label     *View // LabelKey, LabelValue, HasValue
}

// Extend builds a profile named name from the preset: its operations are
// the preset's and more; each of create, exec, redact and the label rule
// is the extending profile's when it sets it, else the preset's.
func (p *Preset) Extend(table *RouteTable, name string, more []string, o Override) (*Profile, error) {
	prof, err := NewProfile(table, name, slices.Concat(p.Allow, more))
	if err != nil {
		return nil, fmt.Errorf("preset %s: %w", p.Name, err)
	}
	prof.Create, prof.Exec, prof.View = p.Create, p.Exec, p.View
	prof.Preset = PresetPrefix + p.Name
	if o.Create != nil {
		prof.Create = *o.Create
	}
	if o.Exec != nil {
		prof.Exec = *o.Exec
	}
	if o.RedactEnv != nil {
		prof.View.RedactEnv = *o.RedactEnv
	}
	if o.Label != nil {
		prof.View.LabelKey, prof.View.LabelValue, prof.View.HasValue = o.Label.LabelKey, o.Label.LabelValue, o.Label.HasValue
	}
	return prof, nil
}

// DescribeView says what the preset's view does, for listings.
func (p *Preset) DescribeView() string {
	var parts []string
	if p.View.RedactEnv {
		parts = append(parts, "env redacted")
	} else {
		parts = append(parts, "env shown")
	}
	if p.View.LabelKey != "" {
		label := p.View.LabelKey
		if p.View.HasValue {
			label += "=" + p.View.LabelValue
		}
		parts = append(parts, "only containers labelled "+label)
	} else {
		parts = append(parts, "all containers")
	}
	return strings.Join(parts, ", ")
}
