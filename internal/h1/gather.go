package h1

import (
	"net"
	"sync"
)

// gatherWriter is what a connection's buffered writer writes to. While it
// gathers, the first write, a flush of the buffer, is held back and goes
// out with the next, the direct write of a body larger than the buffer,
// in one writev: the head or chunk line and the body leave in one system
// call, not two.
type gatherWriter struct {
	conn net.Conn
	// pool lends the buffer a held write is copied to: the buffered
	// writer reuses its own once the write returns.
	pool *sync.Pool
	held *[]byte
	// err is the first failed write's: what the buffered writer took as
	// written may not have gone out, so nothing after it may.
	err error
	// pair and vec are the writev's list, kept here to cost no
	// allocation; WriteTo consumes vec.
	pair [2][]byte
	vec  net.Buffers
}

func (g *gatherWriter) Write(p []byte) (int, error) {
	switch {
	case g.err != nil:
		return 0, g.err
	case g.pool == nil:
		n, err := g.conn.Write(p)
		g.err = err
		return n, err
	case g.held == nil:
		if g.held, _ = g.pool.Get().(*[]byte); g.held == nil {
			g.held = new([]byte)
		}
		*g.held = append((*g.held)[:0], p...)
		return len(p), nil
	}
	held := len(*g.held)
	g.pair = [2][]byte{*g.held, p}
	g.vec = g.pair[:]
	n, err := g.vec.WriteTo(g.conn)
	g.pair = [2][]byte{}
	g.put()
	g.err = err
	return int(max(n-int64(held), 0)), err
}

// gather holds the next write back until the one after it, or release.
func (g *gatherWriter) gather(pool *sync.Pool) { g.pool = pool }

// release ends gathering: a write still held goes out now.
func (g *gatherWriter) release() error {
	var err error
	if g.held != nil {
		_, err = g.conn.Write(*g.held)
		g.put()
		g.err = err
	}
	g.pool = nil
	return err
}

func (g *gatherWriter) put() {
	g.pool.Put(g.held)
	g.held = nil
}
