package proxy

import (
	"context"
	"log/slog"
	"net"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
	peerid "github.com/docker-socket-filter/docker-socket-filter/identity"
	"github.com/docker-socket-filter/docker-socket-filter/listener"
)

type socketKey struct{}

// peer is a connection's caller as far as the listener knows it, and
// the holder of where it runs, settled at its first request.
type peer struct {
	creds    listener.Creds
	socket   filter.Socket
	identity *peerid.Conn // nil without a resolver
}

// socketContext records which listening socket a connection came in on.
func socketContext(ctx context.Context, l net.Listener) context.Context {
	if ll, ok := l.(*listener.Listener); ok {
		return context.WithValue(ctx, socketKey{}, filter.Socket{Name: ll.Name(), Path: ll.Addr().String()})
	}
	return ctx
}

func (p *Proxy) connContext(ctx context.Context, c net.Conn) context.Context {
	lc, ok := c.(*listener.Conn)
	if !ok {
		return ctx
	}
	pr := &peer{creds: lc.Creds}
	pr.socket, _ = ctx.Value(socketKey{}).(filter.Socket)
	if p.identity != nil {
		pr.identity = p.identity.Conn(lc.UnixConn, lc.Creds.PID)
	}
	return context.WithValue(ctx, peerKey{}, pr)
}

// caller is the request's caller. Where its peer runs is found out at the
// connection's first request only.
func (p *Proxy) caller(ctx context.Context) filter.Caller {
	pr, ok := ctx.Value(peerKey{}).(*peer)
	if !ok {
		return filter.Caller{}
	}
	c := filter.Caller{Known: true, Socket: pr.socket,
		Peer: filter.Peer{UID: pr.creds.UID, GID: pr.creds.GID, PID: pr.creds.PID, Groups: pr.creds.Groups}}
	if pr.identity != nil {
		// Not the request's context: a client that half-closes must
		// not leave its connection with a half-found identity.
		id := pr.identity.Identity(p.watches)
		c.Container, c.Contained = id.Container, id.Contained
	}
	return c
}

// callerAttrs name the container, if any, in the audit record.
func callerAttrs(attrs []slog.Attr, c *filter.Caller) []slog.Attr {
	if c.Container != nil {
		return append(attrs, slog.String("container_id", c.Container.ID), slog.String("container", c.Container.Name))
	}
	if c.Contained {
		attrs = append(attrs, slog.Bool("contained", true))
	}
	return attrs
}
