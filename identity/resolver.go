package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
	"github.com/docker-socket-filter/docker-socket-filter/internal/peerproc"
)

// inspectTimeout bounds one container inspect: a connection's first
// request waits for it.
const inspectTimeout = 10 * time.Second

// Resolver names the peers of connections. It asks the engine about the
// containers peers claim to run in, keeps what it learnt by container id
// while the engine's event stream is there to say when it changes, and
// drops it at once when the stream says so, or goes away.
type Resolver struct {
	rt    http.RoundTripper
	procs *peerproc.Reader
	log   *slog.Logger

	mu    sync.Mutex
	cache map[string]*entry
	// seq counts what may change an identity: events, and the event
	// stream's coming and going. An answer of the engine is kept only if
	// nothing of the kind happened while it was asked for.
	seq  uint64
	live bool
}

// entry is a verified container: what the engine said, and its init
// process's cgroup, which its processes share.
type entry struct {
	container  filter.Container
	initCgroup string
	// stale is set when the engine reported a change (die, destroy,
	// rename) or the event stream went away: connections that settled
	// on it settle again at their next request.
	stale atomic.Bool
}

// New returns a Resolver that asks the engine through rt and finds out
// peers' processes with procs, which must not be nil: the listener's, so
// that what it found out at accept is remembered for the identity. Run
// Watch to keep its cache; without Watch every connection's identity is
// asked afresh.
func New(rt http.RoundTripper, procs *peerproc.Reader, log *slog.Logger) *Resolver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Resolver{rt: rt, procs: procs, log: log, cache: make(map[string]*entry)}
}

// Conn is one connection's peer, settled at its first request.
type Conn struct {
	r    *Resolver
	conn syscall.Conn
	pid  int32
	// proc is what was found out of the peer's process at accept, if
	// anything, for the first settling only.
	proc *peerproc.Facts

	mu  sync.Mutex
	cur atomic.Pointer[Identity]
}

// Identity is where a peer runs.
type Identity struct {
	// Container is the verified container, or nil.
	Container *filter.Container
	// Contained is false only for a peer known to run on the host.
	Contained bool
	// Why says why a contained peer has no container, for the logs.
	Why   string
	entry *entry
}

// Conn returns the identity holder for a connection whose peer's pid is
// pid (as SO_PEERCRED gave it). proc, if not nil, is what the resolver's
// Reader found out of the peer at accept: it spares the first settling
// asking again.
func (r *Resolver) Conn(conn syscall.Conn, pid int32, proc *peerproc.Facts) *Conn {
	return &Conn{r: r, conn: conn, pid: pid, proc: proc}
}

// Identity returns the peer's identity. The first call finds it out;
// later calls cost two atomic loads, unless the engine reported a change
// to the container since, which makes the call find it out again.
func (c *Conn) Identity(ctx context.Context) *Identity {
	if id := c.cur.Load(); id != nil && (id.entry == nil || !id.entry.stale.Load()) {
		return id
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if id := c.cur.Load(); id != nil && (id.entry == nil || !id.entry.stale.Load()) {
		return id
	}
	id := c.r.settle(ctx, c.conn, c.pid, c.proc)
	c.proc = nil
	c.cur.Store(id)
	return id
}

func (r *Resolver) settle(ctx context.Context, conn syscall.Conn, pid int32, proc *peerproc.Facts) *Identity {
	unknown := func(why string) *Identity {
		r.log.Debug("peer not named", "pid", pid, "why", why)
		return &Identity{Contained: true, Why: why}
	}
	if proc == nil {
		var err error
		if proc, err = r.procs.Read(conn, pid); err != nil {
			return unknown(err.Error())
		}
	}
	cgroup := proc.Cgroup()
	id, contained, err := ContainerID(cgroup)
	if err != nil {
		return unknown(err.Error())
	}
	switch {
	case id == "" && (contained || proc.Nested()):
		return unknown("in a container or namespace the filter cannot name")
	case id == "":
		return &Identity{}
	}
	e, err := r.entry(ctx, id)
	if err != nil {
		return unknown(err.Error())
	}
	if cgroup != e.initCgroup {
		return unknown("its cgroup names container " + id + " but is not that container's")
	}
	return &Identity{Container: &e.container, Contained: true, entry: e}
}

// entry returns the verified facts of a running container.
func (r *Resolver) entry(ctx context.Context, id string) (*entry, error) {
	r.mu.Lock()
	if e := r.cache[id]; e != nil && !e.stale.Load() {
		r.mu.Unlock()
		return e, nil
	}
	seq, live := r.seq, r.live
	r.mu.Unlock()

	e, err := r.verify(ctx, id)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if live && r.live && r.seq == seq {
		r.cache[id] = e
	} else {
		// Something may have changed while the engine was asked: good
		// for this request, asked again at the next.
		e.stale.Store(true)
	}
	return e, nil
}

type inspected struct {
	ID    string `json:"Id"`
	Name  string
	State struct {
		Running   bool
		Pid       int
		StartedAt string
	}
	Config struct {
		Image  string
		Labels map[string]string
	}
}

// verify asks the engine about a container and reads its init process's
// cgroup. The init's pid is held by a pidfd over the read, and a second
// inspect shows the same init still running: the cgroup read was the
// init's, not a later process's under a reused pid.
func (r *Resolver) verify(ctx context.Context, id string) (*entry, error) {
	first, err := r.inspect(ctx, id)
	if err != nil {
		return nil, err
	}
	if first.ID != id {
		return nil, fmt.Errorf("the engine's inspect of %s gave container %q", id, first.ID)
	}
	if !first.State.Running || first.State.Pid <= 0 {
		return nil, fmt.Errorf("container %s is not running", id)
	}
	pidfd, err := unix.PidfdOpen(first.State.Pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd of container %s's init: %w", id, err)
	}
	defer unix.Close(pidfd)
	initCgroup, err := os.ReadFile(r.procs.Root() + "/" + strconv.Itoa(first.State.Pid) + "/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read the cgroup of container %s's init: %w", id, err)
	}
	if exited, err := peerproc.Exited(pidfd); err != nil || exited {
		return nil, fmt.Errorf("container %s's init exited: %w", id, errors.Join(peerproc.ErrExited, err))
	}
	again, err := r.inspect(ctx, id)
	if err != nil {
		return nil, err
	}
	if !again.State.Running || again.State.Pid != first.State.Pid || again.State.StartedAt != first.State.StartedAt || again.Name != first.Name {
		return nil, fmt.Errorf("container %s changed while it was verified", id)
	}
	return &entry{
		container: filter.Container{
			ID: id, Name: trimSlash(first.Name), Image: first.Config.Image, Labels: first.Config.Labels,
		},
		initCgroup: string(initCgroup),
	}, nil
}

func trimSlash(name string) string {
	if len(name) > 0 && name[0] == '/' {
		return name[1:]
	}
	return name
}

var errNoSuchContainer = errors.New("no such container")

func (r *Resolver) inspect(ctx context.Context, ref string) (*inspected, error) {
	ctx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://docker/containers/"+url.PathEscape(ref)+"/json", nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.rt.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("inspect container %s: %w", ref, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s", errNoSuchContainer, ref)
	default:
		return nil, fmt.Errorf("inspect container %s: the engine answered %d", ref, resp.StatusCode)
	}
	var c inspected
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&c); err != nil {
		return nil, fmt.Errorf("inspect container %s: %w", ref, err)
	}
	return &c, nil
}

// Lookup returns what the engine says of a running container named by
// name or id, as a peer inside it would be named: explain asks with it.
func (r *Resolver) Lookup(ctx context.Context, ref string) (*filter.Container, error) {
	c, err := r.inspect(ctx, ref)
	if err != nil {
		return nil, err
	}
	if !c.State.Running {
		return nil, fmt.Errorf("container %s is not running: no process can connect from it", ref)
	}
	return &filter.Container{ID: c.ID, Name: trimSlash(c.Name), Image: c.Config.Image, Labels: c.Config.Labels}, nil
}
