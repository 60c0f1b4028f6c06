package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
	peerid "github.com/docker-socket-filter/docker-socket-filter/identity"
	"github.com/docker-socket-filter/docker-socket-filter/listener"
)

// upIdleTimeout is how long an upstream connection may sit in the idle
// pool before it is closed rather than reused.
const upIdleTimeout = 90 * time.Second

// copyBuffer sizes the pooled buffers bodies and tunnels are copied
// with; a stream takes one only while bytes flow.
const copyBuffer = 64 << 10

// streamReadBuffer sizes the read buffer of an upstream connection that
// carries an open-ended stream: events and log lines are small, and a
// quiet stream may stay open for days.
const streamReadBuffer = 1 << 10

// connInfo is what the proxy keeps for one client connection: who is
// calling, the profile the policy gave it, and the upstream connection
// its requests are forwarded on, taken at its first forwarded request and
// given back when it closes. Requests on one client connection are served
// one after the other, so none of it needs a lock.
type connInfo struct {
	creds  listener.Creds
	known  bool
	socket filter.Socket
	// identity settles where the peer runs at the first request; nil
	// without a resolver.
	identity *peerid.Conn
	cache    filter.ProfileCache
	up       *upConn
	// held says the server tells when the connection closes, so that
	// it may hold an upstream connection.
	held bool
}

// upConn is one connection to the engine's socket.
type upConn struct {
	c      *net.UnixConn
	br     *bufio.Reader
	reused bool // it has carried a request before
	idle   time.Time
	body   eofBody
}

// eofBody remembers that an answer's body was read to its end, which
// leaves the connection ready for the next request.
type eofBody struct {
	io.ReadCloser
	eof bool
}

func (b *eofBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// upPool holds idle upstream connections and knows every connection it
// handed out, so that the cut at shutdown reaches them all.
type upPool struct {
	path    string
	dialer  net.Dialer
	maxIdle int
	mu      sync.Mutex
	idle    []*upConn
	out     map[*upConn]struct{}
	closed  bool // idle connections are not kept any more
	cut     bool // no connection may be used any more
	// writers buffer request heads written upstream; a connection
	// holds one only while it writes.
	writers sync.Pool
}

func newUpPool(path string, maxIdle int) *upPool {
	pl := &upPool{path: path, maxIdle: maxIdle, out: make(map[*upConn]struct{})}
	pl.writers.New = func() any { return bufio.NewWriterSize(nil, 4<<10) }
	return pl
}

var errPoolCut = errors.New("shutting down: the request was cut")

// get returns an idle connection, or a new one with a read buffer of
// size bytes.
func (pl *upPool) get(ctx context.Context, size int) (*upConn, error) {
	pl.mu.Lock()
	if pl.cut {
		pl.mu.Unlock()
		return nil, errPoolCut
	}
	for size == 0 && len(pl.idle) > 0 {
		u := pl.idle[len(pl.idle)-1]
		pl.idle = pl.idle[:len(pl.idle)-1]
		if time.Since(u.idle) > upIdleTimeout {
			u.c.Close()
			continue
		}
		pl.out[u] = struct{}{}
		pl.mu.Unlock()
		return u, nil
	}
	pl.mu.Unlock()
	return pl.dial(ctx, size)
}

func (pl *upPool) dial(ctx context.Context, size int) (*upConn, error) {
	c, err := pl.dialer.DialContext(ctx, "unix", pl.path)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		size = 4 << 10
	}
	u := &upConn{c: c.(*net.UnixConn), br: bufio.NewReaderSize(c, size)}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.cut {
		u.c.Close()
		return nil, errPoolCut
	}
	pl.out[u] = struct{}{}
	return u, nil
}

// put gives a connection back: to the idle pool if it may carry another
// request, else it is closed.
func (pl *upPool) put(u *upConn, reusable bool) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	delete(pl.out, u)
	if !reusable || pl.closed || pl.cut || len(pl.idle) >= pl.maxIdle || u.br.Buffered() > 0 {
		u.c.Close()
		return
	}
	u.reused, u.idle = true, time.Now()
	pl.idle = append(pl.idle, u)
}

// closeIdle closes the idle connections, and those given back from now on.
func (pl *upPool) closeIdle() {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.closed = true
	for _, u := range pl.idle {
		u.c.Close()
	}
	pl.idle = nil
}

// cutAll closes every connection handed out, and refuses new ones.
func (pl *upPool) cutAll() {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.cut = true
	for u := range pl.out {
		u.c.Close()
	}
}

// exchange sends out on u and reads the answer's head, waiting at most
// wait for it (0: no bound).
func (pl *upPool) exchange(u *upConn, out *http.Request, wait time.Duration) (*http.Response, error) {
	if wait > 0 {
		u.c.SetDeadline(time.Now().Add(wait))
		defer u.c.SetDeadline(time.Time{})
	}
	if err := pl.send(u, out); err != nil {
		return nil, err
	}
	return receive(u, out)
}

// send writes out on u: its head, then its body of out.ContentLength
// bytes, if any.
func (pl *upPool) send(u *upConn, out *http.Request) error {
	bw := pl.writers.Get().(*bufio.Writer)
	bw.Reset(u.c)
	err := writeRequestHead(bw, out)
	// writeRequestHead's own error, unwrapped: asserting its type keeps
	// the check off the heap, where errors.As would put it per request.
	if _, unsendable := err.(*statusError); unsendable {
		// Nothing went out: the request's fault, not the connection's.
		bw.Reset(nil)
		pl.writers.Put(bw)
		return err
	}
	if err == nil && out.Body != nil {
		var n int64
		n, err = io.Copy(bw, out.Body)
		if err == nil && n != out.ContentLength {
			err = fmt.Errorf("request body of %d bytes, not %d", n, out.ContentLength)
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	pl.writers.Put(bw)
	if err != nil {
		return &staleError{err: fmt.Errorf("send request to the engine: %w", err)}
	}
	return nil
}

// writeRequestHead writes out's request line and header: the header as the
// client sent it (the server checked every name and value), less its
// hop-by-hop fields, Expect (the body was read already), Accept-Encoding
// (the engine's bytes are relayed and viewed as they are, never
// compressed) and the framing, which is the filter's: a Content-Length
// as Go's client would send it. A path or query the request line cannot
// carry as it is fails closed.
func writeRequestHead(w *bufio.Writer, out *http.Request) error {
	path := out.URL.EscapedPath()
	if !requestLineSafe(path) || !requestLineSafe(out.URL.RawQuery) || !requestLineSafe(out.Host) {
		return &statusError{http.StatusBadRequest, fmt.Sprintf("request line: %q?%q for host %q cannot be sent as it is", path, out.URL.RawQuery, out.Host)}
	}
	w.WriteString(out.Method)
	w.WriteByte(' ')
	w.WriteString(path)
	if out.URL.RawQuery != "" {
		w.WriteByte('?')
		w.WriteString(out.URL.RawQuery)
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(out.Host)
	w.WriteString("\r\n")
	for k, vv := range out.Header {
		switch k {
		case "Host", "Content-Length", "Expect", "Accept-Encoding":
			continue
		}
		if isHopHeader(k, out.Header) {
			continue
		}
		for _, v := range vv {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	switch m := out.Method; {
	case out.ContentLength > 0, m == http.MethodPost, m == http.MethodPut, m == http.MethodPatch:
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), out.ContentLength, 10))
		w.WriteString("\r\n")
	}
	_, err := w.WriteString("\r\n")
	return err
}

// requestLineSafe reports whether s holds no byte that would end or
// split a request line or header: no space, no control byte.
func requestLineSafe(s string) bool {
	for i := range len(s) {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// receive reads the head of the answer to out.
func receive(u *upConn, out *http.Request) (*http.Response, error) {
	for {
		if _, err := u.br.Peek(1); err != nil {
			return nil, &staleError{err: err, sent: true}
		}
		resp, err := http.ReadResponse(u.br, out)
		if err != nil {
			return nil, err
		}
		// An interim answer is not the answer; 101 is, and ends HTTP.
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
}

// staleError is a connection that failed before any byte of the answer:
// on a reused connection, the engine closed it while it was idle, and the
// request may be sent again on a new one.
type staleError struct {
	err error
	// sent says the whole request was written: the engine may have
	// acted on it before the connection failed.
	sent bool
}

// retriable reports a failure after which the request may be sent again
// on a new connection without the engine acting on it twice: nothing of
// it was written, or it is a read.
func (e *staleError) retriable(method string) bool {
	return !e.sent || method == http.MethodGet || method == http.MethodHead
}

func (e *staleError) Error() string { return e.err.Error() }
func (e *staleError) Unwrap() error { return e.err }
