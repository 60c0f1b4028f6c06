package proxy

import (
	"context"
	"log/slog"
	"net"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
	"github.com/docker-socket-filter/docker-socket-filter/listener"
)

type socketKey struct{}

// socketContext records which listening socket a connection came in on.
func socketContext(ctx context.Context, l net.Listener) context.Context {
	if ll, ok := l.(*listener.Listener); ok {
		return context.WithValue(ctx, socketKey{}, filter.Socket{Name: ll.Name(), Path: ll.Addr().String()})
	}
	return ctx
}

func (p *Proxy) connContext(ctx context.Context, c net.Conn) context.Context {
	info := &connInfo{held: true}
	info.socket, _ = ctx.Value(socketKey{}).(filter.Socket)
	if lc, ok := c.(*listener.Conn); ok {
		info.creds, info.known = lc.Creds, true
		if p.identity != nil {
			info.identity = p.identity.Conn(lc.UnixConn, lc.Creds.PID, lc.Creds.Proc)
		}
		// The identity has the accept-time facts; nothing else on the
		// connection uses them.
		info.creds.Proc, lc.Creds.Proc = nil, nil
	}
	p.conns.add(c, info)
	return context.WithValue(ctx, connKey{}, info)
}

// caller is the request's caller. Where its peer runs is found out at the
// connection's first request only.
func (p *Proxy) caller(info *connInfo) filter.Caller {
	if info == nil || !info.known {
		return filter.Caller{}
	}
	c := filter.Caller{Known: true, Socket: info.socket,
		Peer: filter.Peer{UID: info.creds.UID, GID: info.creds.GID, PID: info.creds.PID, Groups: info.creds.Groups}}
	if info.identity != nil {
		// Not the request's context: a client that half-closes must
		// not leave its connection with a half-found identity.
		id := info.identity.Identity(p.watches)
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
