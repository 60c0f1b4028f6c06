package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"time"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
	"github.com/docker-socket-filter/docker-socket-filter/identity"
	"github.com/docker-socket-filter/docker-socket-filter/internal/peerproc"
	"github.com/docker-socket-filter/docker-socket-filter/internal/procfs"
	"github.com/docker-socket-filter/docker-socket-filter/listener"
	"github.com/docker-socket-filter/docker-socket-filter/proxy"
)

// newResolver names the containers peers run in, asking the engine over
// connections of its own so that the event stream it holds takes none of
// the proxy's.
func newResolver(ctx context.Context, upstream string, procs *peerproc.Reader, log *slog.Logger) *identity.Resolver {
	r := identity.New(proxy.UnixTransport(upstream, 4), procs, log)
	go r.Watch(ctx)
	return r
}

// openBound creates the sockets the policy pins to a profile by path,
// when systemd handed over none: with socket activation the .socket unit
// makes them, and a binding that names none of them is said.
func openBound(policy *filter.Policy, lns []*listener.Listener, activated bool, cfg listener.Config, log *slog.Logger) ([]*listener.Listener, error) {
	var out []*listener.Listener
	for _, b := range policy.Sockets() {
		if hasSocket(lns, b) || hasSocket(out, b) {
			continue
		}
		if activated || b.Path == "" {
			log.Warn("a bound socket is not among the sockets served: add it to the .socket unit (ListenStream=, FileDescriptorName=)",
				"binding", b.Rule)
			continue
		}
		// The binding's own mode and group (0600, the daemon's group,
		// unless it says): whoever may open the main socket must not
		// get the bound profile.
		c := cfg
		c.Path, c.Mode, c.Group = b.Path, fs.FileMode(b.Mode), b.Group
		l, err := listener.Open(nil, c)
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, fmt.Errorf("%s: %w", b.Rule, err)
		}
		out = append(out, l...)
	}
	return out, nil
}

func hasSocket(lns []*listener.Listener, b filter.SocketBinding) bool {
	for _, l := range lns {
		if (b.Name != "" && l.Name() == b.Name) || (b.Path != "" && l.Addr().String() == b.Path) {
			return true
		}
	}
	return false
}

// reserveLookupTimeout bounds finding out an arriving caller's container
// for the reserve.
const reserveLookupTimeout = time.Second

// arrivalCaller is the caller of a connection being admitted, its
// container found out with the resolver.
func arrivalCaller(ctx context.Context, r *identity.Resolver, a listener.Arrival) filter.Caller {
	c := filter.Caller{Known: true, Socket: filter.Socket{Name: a.Name, Path: a.Path},
		Peer: filter.Peer{UID: a.Creds.UID, GID: a.Creds.GID, PID: a.Creds.PID, Groups: a.Creds.Groups}}
	// Asked in the accept loop: bounded, so that a slow engine cannot
	// hold every socket's accepts. Not found in time is not a container.
	ctx, cancel := context.WithTimeout(ctx, reserveLookupTimeout)
	defer cancel()
	id := r.Conn(a.Conn, a.Creds.PID, a.Creds.Proc).Identity(ctx)
	c.Container, c.Contained = id.Container, id.Contained
	return c
}

// countAs counts a connection under its uid and where its peer runs, as
// its cgroup tells (not verified against the engine: it only keeps
// containers' and the host's counts apart, and a spoof gains nothing but
// its own count). Only a peer found out to run on the host counts with the
// host's processes of its uid. One that could not be found out (gone by
// its accept, or on a kernel without SO_PEERPIDFD) is counted by its
// cgroup as read now, unchecked, and otherwise apart from the host's: peers
// from a container must not crowd host root out of its connections.
func countAs(a listener.Arrival) string {
	uid := strconv.FormatUint(uint64(a.Creds.UID), 10)
	var cgroup string
	switch {
	case a.Creds.Proc != nil:
		cgroup = a.Creds.Proc.Cgroup()
	default:
		b, err := procfs.ReadFile("/proc/" + strconv.Itoa(int(a.Creds.PID)) + "/cgroup")
		if err != nil {
			return uid + notFoundOut
		}
		cgroup = string(b)
	}
	switch id, contained, _ := identity.ContainerID(cgroup); {
	case id != "":
		return uid + " in container " + id[:12]
	case contained:
		return uid + " in a container"
	case a.Creds.Proc == nil:
		return uid + notFoundOut
	}
	return uid
}

// notFoundOut ends the count key of a peer not found out to run anywhere.
const notFoundOut = " whose process was not found out"
