package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker-socket-filter/docker-socket-filter/config"
	"github.com/docker-socket-filter/docker-socket-filter/filter"
	"github.com/docker-socket-filter/docker-socket-filter/internal/h1"
	"github.com/docker-socket-filter/docker-socket-filter/internal/logfmt"
	"github.com/docker-socket-filter/docker-socket-filter/internal/peerproc"
	"github.com/docker-socket-filter/docker-socket-filter/learn"
	"github.com/docker-socket-filter/docker-socket-filter/listener"
	"github.com/docker-socket-filter/docker-socket-filter/proxy"
	"github.com/docker-socket-filter/docker-socket-filter/systemd"
)

type serveFlags struct {
	listen          string
	listenMode      string
	listenGroup     string
	upstream        string
	policy          string
	policyExplicit  bool
	upstreamFlagSet bool
	logFormat       string
	logLevel        string
	shutdownTimeout time.Duration
	maxBody         int64
	maxBodyMemory   int64
	bodyTimeout     time.Duration
	engineTimeout   time.Duration
	maxConnsPerUID  int
	maxConns        int
	reserveConns    int
	learn           filter.Learn
	learnUnlisted   filter.Learn
	stateDir        string
	stateFlush      time.Duration
}

func parseServeFlags(args []string, lookup func(string) (string, bool), stderr io.Writer) (*serveFlags, error) {
	f := &serveFlags{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	upstreamDefault := defaultUpstream(lookup)
	levelDefault := "info"
	if v, ok := lookup("LOG_LEVEL"); ok && v != "" {
		levelDefault = v
	}
	fs.StringVar(&f.listen, "listen", "/run/docker-filtered.sock", "socket `path` to create when systemd passes none")
	fs.StringVar(&f.listenMode, "listen-mode", "0660", "permission bits of the created socket (octal)")
	fs.StringVar(&f.listenGroup, "listen-group", "", "group `name|gid` of the created socket (default: the daemon's)")
	fs.StringVar(&f.upstream, "upstream", upstreamDefault, "engine socket `URL` (unix://PATH); SOCKET_PATH also sets it")
	fs.StringVar(&f.policy, "policy", defaultPolicyPath, "policy `file`; empty, or the default file missing: the environment variables make the policy")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", levelDefault, "log level: debug, info, warn, error; LOG_LEVEL also sets it")
	fs.IntVar(&f.maxConnsPerUID, "max-conns-per-uid", 512, "connections one uid may hold open at once; 0 for no bound")
	fs.IntVar(&f.maxConns, "max-conns", 4096, "connections all callers may hold open together; 0 for no bound")
	fs.IntVar(&f.reserveConns, "reserve-conns", 256, "of --max-conns, how many only callers the policy lists may use")
	fs.Int64Var(&f.maxBodyMemory, "max-body-memory", proxy.DefaultMaxBodyMemory, "judged bodies held at once, all callers together (bytes); a quarter is kept for listed callers")
	fs.DurationVar(&f.bodyTimeout, "body-timeout", proxy.DefaultBodyTimeout, "how long a request body may take before it must keep up 64 KiB/s")
	fs.DurationVar(&f.engineTimeout, "engine-timeout", proxy.DefaultEngineTimeout, "how long the engine may take to begin answering a request that is not a stream, or a lookup")
	fs.Int64Var(&f.maxBody, "max-body", proxy.DefaultMaxBody, "largest request body read whole to be judged (bytes); larger ones get 413")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long in-flight requests may take to finish at shutdown")
	var learnMode, learnDefault string
	fs.StringVar(&learnMode, "learn", "", "learn mode for every caller with a profile: allow (forward what the policy would deny) or deny (observe only); profiles and client entries may set their own")
	fs.StringVar(&learnDefault, "learn-default", "", "learn mode for callers whose profile is none: allow or deny; without it they stay denied, unrecorded")
	fs.StringVar(&f.stateDir, "state-dir", defaultStateDir(lookup), "`directory` of the learn records (STATE_DIRECTORY also sets it)")
	fs.DurationVar(&f.stateFlush, "state-flush", 30*time.Second, "how often the learn records are saved, besides at reload and shutdown")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	if f.learn, err = parseLearnFlag("--learn", learnMode); err != nil {
		return nil, err
	}
	if f.learnUnlisted, err = parseLearnFlag("--learn-default", learnDefault); err != nil {
		return nil, err
	}
	if f.stateFlush <= 0 {
		return nil, fmt.Errorf("--state-flush %s: want a positive duration", f.stateFlush)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if f.maxConns > 0 && (f.reserveConns < 0 || f.reserveConns >= f.maxConns) {
		return nil, fmt.Errorf("--reserve-conns %d: want at least 0 and less than --max-conns %d", f.reserveConns, f.maxConns)
	}
	f.policyExplicit = isSet(fs, "policy")
	f.upstreamFlagSet = isSet(fs, "upstream")
	return f, nil
}

// parseLearnFlag reads a learn flag: "" for none, allow or deny.
func parseLearnFlag(name, v string) (filter.Learn, error) {
	if v == "" {
		return filter.LearnInherit, nil
	}
	mode, err := filter.ParseLearn(v)
	if err != nil || mode == filter.LearnOff {
		return 0, fmt.Errorf("%s %q: use allow or deny", name, v)
	}
	return mode, nil
}

// defaultStateDir is systemd's StateDirectory= when the unit sets one.
func defaultStateDir(lookup func(string) (string, bool)) string {
	if v, ok := lookup("STATE_DIRECTORY"); ok && v != "" {
		// systemd lists one directory per StateDirectory= entry.
		first, _, _ := strings.Cut(v, ":")
		return first
	}
	return learn.DefaultStateDir
}

// withLearn applies the daemon's learn flags to a loaded policy.
func (f *serveFlags) withLearn(p *filter.Policy) *filter.Policy {
	return p.WithLearn(f.learn, f.learnUnlisted)
}

// defaultUpstream is the engine's socket: tecnativa's SOCKET_PATH, else
// the engine's own default.
func defaultUpstream(lookup func(string) (string, bool)) string {
	if v, ok := lookup("SOCKET_PATH"); ok && v != "" {
		return "unix://" + v
	}
	return "unix:///var/run/docker.sock"
}

// upstreamFor is the engine socket serve uses with a loaded policy: the
// --upstream flag when given, else the policy file's, else the default.
func (f *serveFlags) upstreamFor(loaded *loadedPolicy) (string, error) {
	upstream := f.upstream
	if loaded.upstream != "" && !f.upstreamFlagSet {
		upstream = loaded.upstream
	}
	return parseUpstream(upstream)
}

// parseUpstream accepts unix://PATH or an absolute PATH.
func parseUpstream(s string) (string, error) {
	path, ok := strings.CutPrefix(s, "unix://")
	if !ok && !strings.HasPrefix(s, "/") {
		return "", fmt.Errorf("upstream %q: only unix://PATH is supported", s)
	}
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("upstream %q: the socket path must be absolute", s)
	}
	return path, nil
}

// parseLevel accepts slog's levels and HAProxy's (tecnativa's LOG_LEVEL).
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "notice":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "err", "crit", "alert", "emerg":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q: use debug, info, warn or error", s)
}

func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	lvl, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	switch format {
	case "text", "json":
		return slog.New(logfmt.New(w, format == "json", lvl)), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", format)
}

func serve(args []string, lookup func(string) (string, bool), stderr io.Writer) int {
	f, err := parseServeFlags(args, lookup, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "docker-socket-filter: %v\n", err)
		return exitUsage
	}
	log, err := newLogger(f.logFormat, f.logLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "docker-socket-filter: %v\n", err)
		return exitUsage
	}
	if err := runServer(f, lookup, log); err != nil {
		fmt.Fprintf(stderr, "docker-socket-filter: %v\n", err)
		return exitUsage
	}
	return exitOK
}

func runServer(f *serveFlags, lookup func(string) (string, bool), log *slog.Logger) error {
	// Signals are caught before anything is set up, so that a SIGTERM
	// right after READY=1 is a clean shutdown, not a kill.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(signals)

	mode, err := strconv.ParseUint(f.listenMode, 8, 32)
	if err != nil || mode > 0o777 {
		return fmt.Errorf("--listen-mode %q: want octal permission bits such as 0660", f.listenMode)
	}
	source := &policySource{path: f.policy, explicit: f.policyExplicit}
	loaded, err := source.load(lookup)
	if err != nil {
		return err
	}
	for _, w := range loaded.warnings {
		log.Warn(w)
	}
	upstreamPath, err := f.upstreamFor(loaded)
	if err != nil {
		return err
	}
	var group *uint32
	if f.listenGroup != "" {
		gid, err := config.ResolveID(f.listenGroup, config.SystemResolver{}.LookupGroup)
		if err != nil {
			return fmt.Errorf("--listen-group %q: %w", f.listenGroup, err)
		}
		group = &gid
	}
	passed, err := systemd.Activated(lookup, os.Unsetenv)
	if err != nil {
		return err
	}
	activated := len(passed) > 0
	records := openRecords(f.stateDir, &engineCgroup{engine: proxy.NewEngine(proxy.UnixTransport(upstreamPath, 1), upstreamPath, f.engineTimeout)}, log)
	flushCtx, stopFlush := context.WithCancel(context.Background())
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		records.FlushEvery(flushCtx, f.stateDir, f.stateFlush, func(err error) { log.Error("saving the learn records failed", "err", err) })
	}()
	// After the last request's record: the final save is the shutdown's.
	defer func() { stopFlush(); <-flushed }()
	identities, stopIdentities := context.WithCancel(context.Background())
	defer stopIdentities()
	// One Reader for the accept and the identity: what the accept found
	// out of a process, the identity finds remembered.
	procs := peerproc.New("/proc")
	resolver := newResolver(identities, upstreamPath, procs, log)
	// The reserve follows the policy in force, and is asked for only once
	// the rest is taken: then the caller's container is found out too.
	var p *proxy.Proxy
	lcfg := listener.Config{
		Path: f.listen, Mode: fs.FileMode(mode), Group: group, Log: log,
		MaxConnsPerUID: f.maxConnsPerUID, MaxConns: f.maxConns, Reserve: f.reserveConns,
		Procs: procs, CountAs: countAs,
		Reserved: func(a listener.Arrival) bool {
			return p.Policy().Lists(arrivalCaller(identities, resolver, a))
		},
	}
	lcfg.Admission = listener.NewAdmission(lcfg)
	lns, err := listener.Open(passed, lcfg)
	if err != nil {
		return err
	}
	bound, err := openBound(loaded.policy, lns, activated, lcfg, log)
	if err != nil {
		for _, l := range lns {
			l.Close()
		}
		return err
	}
	lns = append(lns, bound...)
	p = proxy.New(proxy.Config{
		Upstream: upstreamPath, Log: log, MaxBody: f.maxBody, MaxBodyMemory: f.maxBodyMemory,
		BodyTimeout: f.bodyTimeout, EngineTimeout: f.engineTimeout, Identity: resolver, Learn: records.Record,
	}, f.withLearn(loaded.policy))
	srv := p.NewServer()
	notifier := systemd.NewNotifier(lookup)

	var wg sync.WaitGroup
	serveErr := make(chan error, len(lns))
	for _, l := range lns {
		log.Info("listening", "socket", l.Addr().String(), "name", l.Name(), "activated", activated,
			"upstream", upstreamPath, "policy", loaded.source, "learn", f.learn.String(), "learn_default", f.learnUnlisted.String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		}()
	}
	status := func() string {
		s := p.Stats()
		return fmt.Sprintf("serving: %d connections open, %d requests allowed, %d denied", s.OpenConns, s.Allowed, s.Denied)
	}
	if err := notifier.Ready(status()); err != nil {
		log.Warn("sd_notify READY failed", "err", err)
	}
	stopWatchdog := notifier.StartWatchdog(status, func(err error) { log.Warn("sd_notify WATCHDOG failed", "err", err) })
	defer stopWatchdog()
	// Served already: a missing engine is a 502 per request, not a failed
	// start, so its cause is said here once.
	if err := proxy.CheckUpstream(upstreamPath, time.Second); err != nil {
		log.Warn("engine unreachable: clients get 502 until this is fixed", "err", err)
	}

	var runErr error
loop:
	for {
		select {
		case sig := <-signals:
			if sig != syscall.SIGHUP {
				log.Info("shutting down", "signal", sig.String())
				break loop
			}
			reload(f, source, lookup, p, upstreamPath, lns, notifier, log)
			if err := records.Flush(f.stateDir); err != nil {
				log.Error("saving the learn records failed", "err", err)
			}
		case err := <-serveErr:
			runErr = fmt.Errorf("serve: %w", err)
			break loop
		}
	}
	if err := notifier.Stopping(); err != nil {
		log.Warn("sd_notify STOPPING failed", "err", err)
	}
	shutdown(srv, p, f.shutdownTimeout, log)
	wg.Wait()
	return runErr
}

// openRecords reads the learn records kept in dir, so that learning
// goes on across restarts. Records that cannot be read are set aside
// (renamed), not lost, and learning starts afresh.
func openRecords(dir string, engine *engineCgroup, log *slog.Logger) *learn.Recorder {
	opts := learn.Options{ResolveHostPath: proxy.ResolveHostPath, UserName: userName, EngineCgroupV1: engine.v1}
	state, err := learn.Load(dir)
	if err != nil {
		aside := filepath.Join(dir, learn.StateFile+".unreadable")
		log.Error("the learn records cannot be read: set aside, starting afresh", "err", err, "moved_to", aside)
		if err := os.Rename(filepath.Join(dir, learn.StateFile), aside); err != nil {
			log.Error("setting the learn records aside failed", "err", err)
		}
		state = nil
	}
	return learn.NewRecorder(state, opts)
}

// engineCgroup asks the engine its cgroup version once it answers.
type engineCgroup struct {
	engine  *proxy.Engine
	mu      sync.Mutex
	version string
}

func (e *engineCgroup) v1() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.version == "" {
		l := filter.Lookup{Kind: filter.LookupEngine}
		facts := filter.Facts{}
		e.engine.Answer(context.Background(), []filter.Lookup{l}, facts)
		if f := facts[l]; f.Engine != nil {
			e.version = f.Engine.CgroupVersion
		}
	}
	return e.version != "" && e.version != "2"
}

// userName is a uid's name in the user database, "" when it has none.
func userName(uid uint32) string {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return ""
	}
	return u.Username
}

// keepBoundClosed pins to no profile the sockets a reload unbinds while
// they are still served: their mode was chosen for the profile bound to
// them, and whoever it lets connect must not fall to the client entries
// or the default until a restart closes them.
func keepBoundClosed(old, loaded *filter.Policy, lns []*listener.Listener, log *slog.Logger) *filter.Policy {
	kept := loaded.Sockets()
	for _, b := range old.Sockets() {
		if !hasSocket(lns, b) || slices.ContainsFunc(kept, func(k filter.SocketBinding) bool {
			return (b.Name != "" && k.Name == b.Name) || (b.Path != "" && k.Path == b.Path)
		}) {
			continue
		}
		log.Warn("a served socket the reload unbinds gives nothing until the next restart closes it", "binding", b.Rule)
		b.Profile, b.Rule = filter.NoProfile, b.Rule+" (unbound by a reload)"
		kept = append(kept, b)
	}
	if len(kept) == len(loaded.Sockets()) {
		return loaded
	}
	policy, err := loaded.WithSockets(kept)
	if err != nil {
		// Only names and profiles that were valid already: cannot fail.
		log.Error("keeping unbound sockets closed failed", "err", err)
		return loaded
	}
	return policy
}

// cutGrace bounds the wait, after shutdown cut the requests still running,
// for their handlers to write their audit records.
const cutGrace = 5 * time.Second

// cutWriteGrace is how long, once requests are cut, a write to a client may
// still take.
const cutWriteGrace = time.Second

// shutdown stops accepting, ends open-ended streams and tunnels, and gives
// the other in-flight requests until the timeout to finish.
func shutdown(srv *h1.Server, p *proxy.Proxy, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	p.StopWatches()
	if err := <-done; err != nil {
		log.Warn("requests still running at the shutdown timeout were cut", "timeout", timeout)
		p.CutRequests()
		// A handler may be stuck writing to a client that does not read:
		// its writes get a moment, for the answers of the requests cut,
		// then fail.
		srv.CutWrites(time.Now().Add(cutWriteGrace))
	}
	// Every request the engine received writes its record, cut or not,
	// and its client gets the answer before the connections close.
	if !p.WaitRequests(cutGrace) {
		log.Error("requests did not end after being cut: their audit records are missing", "waited", cutGrace)
	}
	srv.Close()
	p.CloseIdleUpstream()
}

// reload re-reads the policy; a policy that fails to load leaves the one in
// force untouched.
func reload(f *serveFlags, source *policySource, lookup func(string) (string, bool), p *proxy.Proxy, upstream string, lns []*listener.Listener, n *systemd.Notifier, log *slog.Logger) {
	if err := n.Reloading(); err != nil {
		log.Warn("sd_notify RELOADING failed", "err", err)
	}
	loaded, err := source.load(lookup)
	if err != nil {
		log.Error("reload failed: keeping the policy in force", "err", err)
	} else {
		for _, w := range loaded.warnings {
			log.Warn(w)
		}
		policy := keepBoundClosed(p.Policy(), loaded.policy, lns, log)
		p.SetPolicy(f.withLearn(policy))
		log.Info("policy reloaded", "policy", loaded.source)
		// The engine connections are made for one socket: a new one
		// takes a restart, which must not go unnoticed.
		if want, err := f.upstreamFor(loaded); err == nil && want != upstream {
			log.Warn("the policy's upstream changed: it applies at the next restart", "in_force", upstream, "policy", want)
		}
		// Sockets are opened at start: a binding to one not served yet
		// takes a restart (or, with socket activation, a .socket unit).
		for _, b := range loaded.policy.Sockets() {
			if !hasSocket(lns, b) {
				log.Warn("a bound socket the reload added is not served: it opens at the next restart", "binding", b.Rule)
			}
		}
	}
	if err := n.Ready(""); err != nil {
		log.Warn("sd_notify READY failed", "err", err)
	}
}
