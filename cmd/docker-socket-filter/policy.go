package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/docker-socket-filter/docker-socket-filter/config"
	"github.com/docker-socket-filter/docker-socket-filter/filter"
	"github.com/docker-socket-filter/docker-socket-filter/identity"
	"github.com/docker-socket-filter/docker-socket-filter/internal/peerproc"
	"github.com/docker-socket-filter/docker-socket-filter/proxy"
)

const defaultPolicyPath = "/etc/docker-socket-filter/policy.yaml"

type loadedPolicy struct {
	policy   *filter.Policy
	upstream string // from the file, or ""
	source   string // the file, or "environment"
	warnings []string
}

// loadPolicy reads the policy file. tecnativa's environment variables make
// the policy instead when the path is empty, or when it is the default one
// and does not exist: a file named on the command line must exist.
func loadPolicy(path string, explicit bool, lookup func(string) (string, bool)) (*loadedPolicy, error) {
	table, err := filter.NewRouteTable()
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(path)
	if path == "" || (errors.Is(statErr, fs.ErrNotExist) && !explicit) {
		policy, err := filter.EnvPolicy(table, lookup)
		if err != nil {
			return nil, fmt.Errorf("embedded default policy: %w", err)
		}
		return &loadedPolicy{policy: policy, source: "environment"}, nil
	}
	f, err := config.Load(path, table, config.SystemResolver{})
	if err != nil {
		return nil, err
	}
	if f.Upstream != "" {
		if _, err := parseUpstream(f.Upstream); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	lp := &loadedPolicy{policy: f.Policy, upstream: f.Upstream, source: path}
	var ignored []string
	for _, name := range filter.EnvVariables() {
		if _, ok := lookup(name); ok {
			ignored = append(ignored, name)
		}
	}
	if len(ignored) > 0 {
		lp.warnings = append(lp.warnings, fmt.Sprintf("environment variables %s are ignored: the policy file %s decides", strings.Join(ignored, ", "), path))
	}
	return lp, nil
}

// policySource loads the daemon's policy at start and at each reload.
type policySource struct {
	path     string
	explicit bool
}

// load reads the policy. Once a file has been in force, a later load
// treats it as named explicitly: its disappearance is an error that keeps
// the policy in force, never a fallback to the environment's.
func (s *policySource) load(lookup func(string) (string, bool)) (*loadedPolicy, error) {
	lp, err := loadPolicy(s.path, s.explicit, lookup)
	if err == nil && lp.source != "environment" {
		s.explicit = true
	}
	return lp, err
}

func policyFlag(fs *flag.FlagSet) *string {
	return fs.String("policy", defaultPolicyPath, "policy `file`; empty, or the default file missing: the environment variables make the policy")
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func check(args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := policyFlag(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	lp, err := loadPolicy(*path, isSet(fs, "policy"), lookup)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitUsage
	}
	for _, w := range lp.warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "%s: OK: %d profiles, %d clients, default %s%s\n",
		lp.source, len(lp.policy.Profiles()), len(lp.policy.Clients()), describeDefault(lp.policy), presetsUsed(lp.policy))
	return exitOK
}

func describeDefault(p *filter.Policy) string { return p.Default() }

func explain(args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: docker-socket-filter explain [--policy FILE] [--uid N] [--gid N] [--groups N,M] [--container NAME|ID] [--socket NAME|PATH] [--body FILE [--content-type TYPE]] METHOD PATH[?QUERY]")
		fs.PrintDefaults()
	}
	path := policyFlag(fs)
	uid := fs.String("uid", "", "the peer's uid (required unless --container or --socket; with them, default 0)")
	containerRef := fs.String("container", "", "the peer runs in this running container, looked up on the engine by `name or id`")
	socket := fs.String("socket", "", "the connection came in on this socket: its systemd `name` (FileDescriptorName) or path")
	gid := fs.String("gid", "", "the peer's primary gid (default: the uid)")
	groups := fs.String("groups", "", "the peer's supplementary gids, comma-separated")
	bodyFile := fs.String("body", "", "the request body, from `file` (- for standard input)")
	contentType := fs.String("content-type", "application/json", "the body's Content-Type")
	upstream := fs.String("upstream", "", "engine socket `URL` for the lookups a decision needs (default: the policy's, else unix:///var/run/docker.sock)")
	maxBody := fs.Int64("max-body", proxy.DefaultMaxBody, "largest body judged, as serve's --max-body")
	learnFlag := fs.String("learn", "", "decide as serve --learn does: allow or deny")
	learnDefault := fs.String("learn-default", "", "decide as serve --learn-default does: allow or deny")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *uid == "" && (*containerRef != "" || *socket != "") {
		*uid = "0"
	}
	listed, err := parseLearnFlag("--learn", *learnFlag)
	if err != nil {
		fmt.Fprintf(stderr, "docker-socket-filter: %v\n", err)
		return exitUsage
	}
	unlisted, err := parseLearnFlag("--learn-default", *learnDefault)
	if err != nil {
		fmt.Fprintf(stderr, "docker-socket-filter: %v\n", err)
		return exitUsage
	}
	if fs.NArg() != 2 || *uid == "" {
		fs.Usage()
		return exitUsage
	}
	peer, err := explainPeer(*uid, *gid, *groups)
	if err != nil {
		fmt.Fprintf(stderr, "docker-socket-filter: %v\n", err)
		return exitUsage
	}
	lp, err := loadPolicy(*path, isSet(fs, "policy"), lookup)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitUsage
	}
	engineURL := *upstream
	if engineURL == "" {
		engineURL = lp.upstream
	}
	if engineURL == "" {
		engineURL = defaultUpstream(lookup)
	}
	enginePath, err := parseUpstream(engineURL)
	if err != nil {
		fmt.Fprintf(stderr, "docker-socket-filter: %v\n", err)
		return exitUsage
	}
	method, target := fs.Arg(0), fs.Arg(1)
	escapedPath, rawQuery, _ := strings.Cut(target, "?")
	req := filter.Request{Method: method, EscapedPath: escapedPath, RawQuery: rawQuery, BodyLimit: *maxBody}
	var body []byte
	if *bodyFile != "" {
		if body, err = readBodyFile(*bodyFile); err != nil {
			fmt.Fprintf(stderr, "docker-socket-filter: --body: %v\n", err)
			return exitUsage
		}
		req.ContentLength = int64(len(body))
		req.ContentTypes = []string{*contentType}
	}
	caller := filter.Caller{Peer: peer, Known: true, Socket: filter.Socket{Name: *socket, Path: *socket}}
	if *containerRef != "" {
		r := identity.New(proxy.UnixTransport(enginePath, 1), peerproc.New("/proc"), nil)
		c, err := r.Lookup(context.Background(), *containerRef)
		if err != nil {
			fmt.Fprintf(stderr, "docker-socket-filter: --container: %v\n", err)
			return exitUsage
		}
		caller.Container, caller.Contained = c, true
	}
	engine := proxy.NewEngine(proxy.UnixTransport(enginePath, 1), enginePath, proxy.DefaultEngineTimeout)
	d := engine.Settle(context.Background(), lp.policy.WithLearn(listed, unlisted), caller, &req, func(*filter.Decision) ([]byte, error) {
		if int64(len(body)) > *maxBody {
			return body[:*maxBody+1], nil
		}
		return body, nil
	})
	fmt.Fprintf(stdout, "policy:    %s\n", lp.source)
	fmt.Fprintf(stdout, "peer:      uid=%d gid=%d groups=%v\n", peer.UID, peer.GID, peer.Groups)
	if c := caller.Container; c != nil {
		fmt.Fprintf(stdout, "container: %s (%s), image %s, labels %v\n", c.Name, c.ID, c.Image, c.Labels)
	}
	if *socket != "" {
		fmt.Fprintf(stdout, "socket:    %s\n", *socket)
	}
	fmt.Fprintf(stdout, "client:    %s\n", d.Rule)
	fmt.Fprintf(stdout, "profile:   %s\n", d.ProfileName())
	fmt.Fprintf(stdout, "operation: %s\n", d.Operation())
	if d.Profile != nil && d.Profile.Preset != "" {
		fmt.Fprintf(stdout, "preset:    %s\n", describePresetProfile(d.Profile))
	}
	if d.Profile != nil && d.Route != nil {
		if rules := d.Profile.Rules(d.Route); rules != "" {
			fmt.Fprintf(stdout, "rules:     %s\n", rules)
		}
	}
	byName := func(a, b filter.Lookup) int { return strings.Compare(a.String(), b.String()) }
	for _, l := range slices.SortedFunc(maps.Keys(req.Facts), byName) {
		fmt.Fprintf(stdout, "looked up: %s: %s\n", l, describeFact(req.Facts[l]))
	}
	fmt.Fprintf(stdout, "step:      %s\n", d.Step)
	fmt.Fprintf(stdout, "reason:    %s\n", d.Reason)
	if d.Learning() {
		fmt.Fprintf(stdout, "learn:     %s (recorded)\n", d.Learn)
	}
	for _, w := range d.WouldDeny {
		fmt.Fprintf(stdout, "would deny: at %s (%d): %s\n", w.Step, w.Status, w.Reason)
	}
	if d.Allowed() && len(d.WouldDeny) > 0 {
		fmt.Fprintf(stdout, "decision:  allow, by learn mode: the policy in force would deny it\n")
	} else if d.Allowed() {
		fmt.Fprintf(stdout, "decision:  allow: profile %s (%s) allows %s\n", d.ProfileName(), d.Rule, d.Operation())
	}
	if d.Allowed() {
		if forwarded := d.Path + query(d.RawQuery); forwarded != target {
			fmt.Fprintf(stdout, "forwards:  %s\n", forwarded)
		}
		return exitOK
	}
	fmt.Fprintf(stdout, "decision:  deny (%d): %s\n", d.Status, d.Reason)
	return exitDenied
}

func query(raw string) string {
	if raw == "" {
		return ""
	}
	return "?" + raw
}

func readBodyFile(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

// describeFact says in a few words what a lookup found.
func describeFact(f filter.Fact) string {
	switch {
	case f.Err != nil:
		return "failed: " + f.Err.Error()
	case f.Missing:
		return "does not exist"
	case f.Container != nil:
		return "container " + f.Container.ID
	case f.Exec != nil:
		return "exec in container " + f.Exec.ContainerID
	case f.Network != nil:
		return fmt.Sprintf("network %s (%s, driver %s)", f.Network.Name, f.Network.ID, f.Network.Driver)
	case f.Volume != nil:
		return fmt.Sprintf("volume with driver %s, options %v", f.Volume.Driver, f.Volume.Options)
	case f.Engine != nil:
		return "cgroup v" + f.Engine.CgroupVersion
	}
	return "resolves to " + f.Path
}

func explainPeer(uid, gid, groups string) (filter.Peer, error) {
	var p filter.Peer
	u, err := strconv.ParseUint(uid, 10, 32)
	if err != nil {
		return p, fmt.Errorf("--uid %q: want a number", uid)
	}
	p.UID, p.GID = uint32(u), uint32(u)
	if gid != "" {
		g, err := strconv.ParseUint(gid, 10, 32)
		if err != nil {
			return p, fmt.Errorf("--gid %q: want a number", gid)
		}
		p.GID = uint32(g)
	}
	if groups != "" {
		for _, s := range strings.Split(groups, ",") {
			g, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
			if err != nil {
				return p, fmt.Errorf("--groups: %q is not a number", s)
			}
			p.Groups = append(p.Groups, uint32(g))
		}
	}
	return p, nil
}
