// Package h1 serves HTTP/1.1 for an http.Handler with less machinery
// than net/http's server: each connection's own goroutine reads a request
// with the standard library's parser (http.ReadRequest), runs the handler,
// writes the answer and reads the next request. No goroutine is started
// per request, and the connection is read in the background only when a
// handler asks to learn of a client that goes away, by waiting on its
// request's context: a keep-alive request costs its parse, its handler
// and its writes.
//
// What the handler sees is what net/http's server gives it: the request
// as http.ReadRequest parsed it, checked as net/http checks it (one valid
// Host, HTTP/1.x, a bounded header, Expect), and a ResponseWriter that
// flushes, hijacks and takes read deadlines through
// http.ResponseController.
package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.1 connections accepted from listeners.
type Server struct {
	Handler http.Handler
	// ReadHeaderTimeout bounds the read of a request's head; 0 for none.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a connection
	// kept alive; 0 for none.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's head; 0 for http.DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// BaseContext, if set, gives the context of a listener's connections.
	BaseContext func(net.Listener) context.Context
	// ConnContext, if set, derives a connection's context from it.
	ConnContext func(context.Context, net.Conn) context.Context
	// ConnState, if set, is told of each connection's changes of state,
	// as net/http's server tells them.
	ConnState func(net.Conn, http.ConnState)
	// ErrorLog receives accept failures and handler panics.
	ErrorLog *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	// closing is set once, under mu, and read by every answer: from
	// then on each connection closes after its answer.
	closing atomic.Bool
	// drained is closed when, closing, the last connection is gone.
	drained chan struct{}
	// readers and writers are connections' buffers, kept for the next;
	// gathered lends a gatherWriter the copy of a write it holds.
	readers, writers sync.Pool
	gathered         sync.Pool
	// handoff passes accepted connections to goroutines waiting in work,
	// waiting counts them, and stopWaiting, closed at shutdown, ends them.
	handoff     chan handed
	waiting     atomic.Int32
	stopWaiting chan struct{}
}

// lingerTime bounds how long a connection that ends reads, and drops,
// what its client still sends.
const lingerTime = 500 * time.Millisecond

// Serve accepts connections from l and serves each in a goroutine of its
// own while it lasts (one that served an earlier connection, if one
// waits), until l fails or the server is shut down; then it returns
// http.ErrServerClosed.
func (s *Server) Serve(l net.Listener) error {
	// Closed however Serve returns: shutdown may have come before Serve
	// could track it.
	defer l.Close()
	ctx := context.Background()
	if s.BaseContext != nil {
		ctx = s.BaseContext(l)
	}
	if !s.trackListener(l, true) {
		return http.ErrServerClosed
	}
	defer s.trackListener(l, false)
	var delay time.Duration
	for {
		rwc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of descriptors, most often: said, and tried again
				// after a pause that grows, as net/http's server does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logError(slog.LevelWarn, "accept failed; retrying", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		delay = 0
		c := &conn{srv: s, rwc: rwc}
		cctx := ctx
		if s.ConnContext != nil {
			if cctx = s.ConnContext(ctx, rwc); cctx == nil {
				panic("h1: ConnContext returned nil")
			}
		}
		if !s.trackConn(c) {
			rwc.Close()
			return http.ErrServerClosed
		}
		s.setState(rwc, http.StateNew)
		select {
		case s.handoff <- handed{c, cctx}:
		default:
			go s.work(c, cctx)
		}
	}
}

// handed is an accepted connection on its way to a waiting goroutine.
type handed struct {
	c   *conn
	ctx context.Context
}

// maxWaiting bounds the goroutines kept waiting for a connection.
const maxWaiting = 16

// work serves c, then, while fewer than maxWaiting others wait, waits for
// the next connection: its stack has grown to what serving takes, where
// a new goroutine's would grow again, copied at each step.
func (s *Server) work(c *conn, ctx context.Context) {
	for {
		c.serve(ctx)
		// Nothing of the connection served is kept while waiting.
		c, ctx = nil, nil
		if s.waiting.Add(1) > maxWaiting {
			s.waiting.Add(-1)
			return
		}
		select {
		case h := <-s.handoff:
			s.waiting.Add(-1)
			c, ctx = h.c, h.ctx
		case <-s.stopWaiting:
			s.waiting.Add(-1)
			return
		}
	}
}

// isTemporary reports errors net/http's server also retries accepting
// after.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// Shutdown stops accepting, closes the connections waiting for a request
// and waits, until ctx ends, for the others to finish theirs. Connections
// that have sent nothing yet and hijacked ones are not waited for beyond
// what their owner does: ConnState names them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	drained := s.beginClose()
	for c := range s.conns {
		if c.idle {
			c.rwc.Close()
		}
	}
	s.mu.Unlock()
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting and closes every connection the server still
// serves.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beginClose()
	for c := range s.conns {
		c.rwc.Close()
	}
	return nil
}

// CutWrites gives every write to a client from now on the deadline t:
// at shutdown, once its handlers were told to end, an answer whose client
// does not read it must not hold the daemon.
func (s *Server) CutWrites(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.rwc.SetWriteDeadline(t)
	}
}

// beginClose marks the server closing and closes its listeners; s.mu is
// held.
func (s *Server) beginClose() <-chan struct{} {
	if !s.closing.Load() {
		s.closing.Store(true)
		s.drained = make(chan struct{})
		if len(s.conns) == 0 {
			close(s.drained)
		}
		for l := range s.listeners {
			l.Close()
		}
		if s.stopWaiting != nil {
			close(s.stopWaiting)
		}
	}
	return s.drained
}

func (s *Server) trackListener(l net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.listeners, l)
		return true
	}
	if s.closing.Load() {
		return false
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
		s.handoff = make(chan handed)
		s.stopWaiting = make(chan struct{})
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Server) trackConn(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if s.closing.Load() && len(s.conns) == 0 {
		close(s.drained)
	}
}

// setIdle marks c waiting for a request, which shutdown may cut; it
// reports false when the server is closing already.
func (s *Server) setIdle(c *conn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.idle = idle
	return !(idle && s.closing.Load())
}

func (s *Server) setState(c net.Conn, st http.ConnState) {
	if s.ConnState != nil {
		s.ConnState(c, st)
	}
}

func (s *Server) logError(level slog.Level, msg string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Log(context.Background(), level, msg, args...)
	}
}

func (s *Server) maxHeaderBytes() int64 {
	if s.MaxHeaderBytes > 0 {
		return int64(s.MaxHeaderBytes)
	}
	return http.DefaultMaxHeaderBytes
}

// bufferSize is the size of a connection's read and write buffers, as
// net/http's server has them.
const bufferSize = 4 << 10

// conn is one client connection.
type conn struct {
	srv *Server
	rwc net.Conn
	cr  connReader
	br  *bufio.Reader
	bw  *bufio.Writer
	gw  gatherWriter // what bw writes to
	// idle is true while the connection waits for a request; s.mu
	// guards it.
	idle     bool
	hijacked bool
	// lastMethod is the previous request's.
	lastMethod string
	// buffersInUse is true when something may still read through the
	// connection's buffers after it ends: they are not given to another.
	buffersInUse bool
}

func (c *conn) serve(ctx context.Context) {
	c.cr.c = c
	c.cr.cond.L = &c.cr.mu
	c.br = c.srv.newReader(&c.cr)
	c.gw.conn = c.rwc
	c.bw = c.srv.newWriter(&c.gw)
	var w *response
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.logError(slog.LevelError, "handler panicked", "panic", fmt.Sprint(v), "stack", string(buf))
			}
			// A body read the handler began may outlive it: its
			// request is closed, and the buffers kept to this one.
			if w != nil {
				w.end()
				w.cancel()
			}
			c.buffersInUse = true
		}
		if w != nil && w.bodyUnread() {
			// A read of it may still be under way through the
			// connection's buffers: they serve no other connection,
			// however this one ended.
			c.buffersInUse = true
		}
		if !c.hijacked {
			c.cr.abortPendingRead()
			c.rwc.Close()
			c.srv.setState(c.rwc, http.StateClosed)
			if !c.buffersInUse {
				c.srv.readers.Put(c.br)
				c.srv.writers.Put(c.bw)
			}
		}
		c.srv.forget(c)
	}()
	for first := true; ; first = false {
		if !first && !c.awaitRequest() {
			return
		}
		req, err := c.readRequest()
		// Until its head is whole, a request may be cut by shutdown, as
		// a connection that waits for one is.
		c.srv.setIdle(c, false)
		if err != nil {
			c.refuse(err)
			return
		}
		c.srv.setState(c.rwc, http.StateActive)
		w = newResponse(ctx, c, req)
		if w.expectationFailed {
			w.header.Set("Connection", "close")
			w.WriteHeader(http.StatusExpectationFailed)
			w.finish()
			return
		}
		c.srv.Handler.ServeHTTP(w, w.req)
		if c.hijacked {
			w.cancel()
			return
		}
		keep := w.finish()
		if !keep {
			return
		}
		c.srv.setState(c.rwc, http.StateIdle)
	}
}

// awaitRequest waits, up to the idle timeout, for the next request's
// first bytes. From now until its head is read the connection counts as
// idle: shutdown may close it.
func (c *conn) awaitRequest() bool {
	if !c.srv.setIdle(c, true) {
		return false
	}
	if c.br.Buffered() >= 4 {
		return true
	}
	if d := c.srv.IdleTimeout; d > 0 {
		c.rwc.SetReadDeadline(time.Now().Add(d))
	}
	// As net/http's server: a request is at least four bytes long, and a
	// client that ends with fewer gets no answer.
	_, err := c.br.Peek(4)
	return err == nil
}

// errHeadTooLarge marks a request head over MaxHeaderBytes.
var errHeadTooLarge = errors.New("request head too large")

// statusError is a request refused with a status of its own.
type statusError struct {
	status int
	text   string
}

func (e statusError) Error() string { return strconv.Itoa(e.status) + " " + e.text }

func (c *conn) readRequest() (*http.Request, error) {
	if d := c.srv.ReadHeaderTimeout; d > 0 {
		c.rwc.SetReadDeadline(time.Now().Add(d))
	}
	// As net/http's server: the head may fill a last buffer past the
	// bound.
	c.cr.setLimit(c.srv.maxHeaderBytes() + bufferSize)
	if c.lastMethod == http.MethodPost {
		// Old clients end a POST's body with a line break too many
		// (RFC 9112, 2.2); net/http's server skips it too.
		peek, _ := c.br.Peek(4)
		c.br.Discard(len(peek) - len(bytes.TrimLeft(peek, "\r\n")))
	}
	req, err := http.ReadRequest(c.br)
	if err != nil {
		if c.cr.hitLimit() {
			return nil, errHeadTooLarge
		}
		return nil, err
	}
	c.cr.setLimit(-1)
	c.lastMethod = req.Method
	if req.ProtoMajor != 1 {
		return nil, statusError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
	}
	// http.ReadRequest took the Host field out, and refused more than
	// one; a request without one is served as net/http's client sends
	// it, with an empty Host.
	if !validHost(req.Host) {
		return nil, statusError{http.StatusBadRequest, "malformed Host header"}
	}
	// The parser keeps a field whose name is not a token ("Content-Length :")
	// as it came: such a request is refused, as net/http's server
	// refuses it, or a field that frames the body would be read one way
	// here and another way on.
	for k, vv := range req.Header {
		if !validFieldName(k) {
			return nil, statusError{http.StatusBadRequest, "invalid header name"}
		}
		for _, v := range vv {
			if !validFieldValue(v) {
				return nil, statusError{http.StatusBadRequest, "invalid header value"}
			}
		}
	}
	c.rwc.SetReadDeadline(time.Time{})
	return req, nil
}

// refuse answers a request that could not be read, as net/http's server
// does, and the connection ends. A client that went away or a head that
// did not come in time gets nothing.
func (c *conn) refuse(err error) {
	var op *net.OpError
	if err == io.EOF || errors.As(err, &op) && op.Op == "read" {
		return
	}
	status, text := http.StatusBadRequest, "Bad Request"
	var se statusError
	switch {
	case errors.Is(err, errHeadTooLarge):
		status, text = http.StatusRequestHeaderFieldsTooLarge, "Request Header Fields Too Large"
	case errors.As(err, &se):
		status, text = se.status, se.text
	case strings.Contains(err.Error(), "unsupported transfer encoding"),
		strings.Contains(err.Error(), "too many transfer encodings"):
		// http.ReadRequest tells this error by its text only.
		status, text = http.StatusNotImplemented, "Unsupported transfer encoding"
	}
	body := strconv.Itoa(status) + " " + text
	fmt.Fprintf(c.rwc, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
	c.linger()
}

// linger ends a connection whose client may still be sending what was not
// read: closed at once, the socket would discard the answer with the
// unread bytes, so the client is told that nothing more comes and given a
// moment to stop.
func (c *conn) linger() {
	type closeWriter interface{ CloseWrite() error }
	cw, ok := c.rwc.(closeWriter)
	if !ok || cw.CloseWrite() != nil {
		return
	}
	// Read until the client stops or the time is up, however much it
	// sends: a client still writing a large body reads the answer only
	// once its writes go through.
	c.rwc.SetReadDeadline(time.Now().Add(lingerTime))
	io.Copy(io.Discard, c.rwc)
}

// validHost reports whether a Host header's bytes may be in a host and
// port, as net/http's server checks them.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		b := h[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("!$%&'()*+,-.:;=[]_~", b) >= 0:
		default:
			return false
		}
	}
	return true
}

// validFieldValue reports whether a field value holds no control byte
// but tabs.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

func (s *Server) newReader(r io.Reader) *bufio.Reader {
	if br, ok := s.readers.Get().(*bufio.Reader); ok {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, bufferSize)
}

func (s *Server) newWriter(w io.Writer) *bufio.Writer {
	if bw, ok := s.writers.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, bufferSize)
}
