package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

// errDetached tells ServeHTTP that a stream goes on from a goroutine of
// its own, which writes the request's audit record when it ends.
var errDetached = errors.New("stream relayed apart from its handler")

// forwardDetached forwards an open-ended stream (events, followed logs,
// stats, a wait) and takes the client connection over as soon as the
// request is sent: the answer's head, and the stream after it, are
// relayed from a goroutine of its own. A quiet stream may stay open for
// days: parked deep in the server's stack, with the server's buffers, it
// would cost several times what a shallow goroutine waiting on the
// engine's connection does; and a crowd of streams opened at once would
// all wait for their heads so. The answer goes out with the proxy's own
// framing (chunked, when its length is not known) and the connection
// closes after it.
func (p *Proxy) forwardDetached(w http.ResponseWriter, r *http.Request, d *filter.Decision, out *http.Request, start time.Time) (int, error) {
	u, err := p.pool.dial(p.cut, streamReadBuffer)
	if err == nil {
		if err = p.pool.send(u, out); err != nil {
			p.pool.put(u, false)
		}
	}
	if err != nil {
		if p.cut.Err() != nil {
			writeJSONError(w, http.StatusServiceUnavailable, "docker-socket-filter: shutting down: the request was cut")
			return http.StatusServiceUnavailable, fmt.Errorf("cut at shutdown: %w", err)
		}
		return p.badGateway(w, err)
	}
	client, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		p.pool.put(u, false)
		writeJSONError(w, http.StatusInternalServerError, "docker-socket-filter: cannot take over the client connection: "+err.Error())
		return http.StatusInternalServerError, fmt.Errorf("hijack client connection: %w", err)
	}
	// The server's buffers stay behind: whatever the client sent after
	// this request is not read, and the answer's head says so.
	client.SetDeadline(time.Time{})
	info, _ := r.Context().Value(connKey{}).(*connInfo)
	caller := p.caller(info)
	// What the record needs of the request, and nothing more.
	rec := &http.Request{Method: r.Method, URL: &url.URL{Path: r.URL.Path}}
	// The target's segments live in the judged request: not kept.
	kept := new(filter.Decision)
	*kept = *d
	kept.Target, kept.Lookups = filter.Target{}, nil
	// Only what reading the answer's head needs of the request sent.
	sent := &http.Request{Method: out.Method}
	s := &detached{client: client, up: u}
	if !p.streams.add(s) {
		// Shutting down: the relay ends at once.
		s.end()
	}
	p.inflight.Add(1)
	go p.relayDetached(s, sent, rec, kept, caller, start)
	return 0, errDetached
}

func (p *Proxy) relayDetached(s *detached, sent, rec *http.Request, d *filter.Decision, caller filter.Caller, start time.Time) {
	defer p.inflight.Done()
	status, err := p.relayStream(s, sent, d)
	p.streams.remove(s)
	p.pool.put(s.up, false)
	// Closed before the record: its place under the connection bounds
	// is free once the record says the stream ended.
	s.client.Close()
	p.audit(rec, &caller, d, status, time.Since(start), err)
}

// relayStream reads the engine's answer and relays it to the client.
func (p *Proxy) relayStream(s *detached, sent *http.Request, d *filter.Decision) (int, error) {
	resp, err := receive(s.up, sent)
	if err != nil {
		if p.cut.Err() != nil || p.watches.Err() != nil {
			return writeRawError(s.client, http.StatusServiceUnavailable, "docker-socket-filter: shutting down: the request was cut"),
				fmt.Errorf("cut at shutdown: %w", err)
		}
		return writeRawError(s.client, http.StatusBadGateway, "docker-socket-filter: "+describeUpstream(p.upstream, err)), err
	}
	view := &d.Profile.View
	viewed := resp.StatusCode == http.StatusOK && view.Rewrites(d.Route.Answer)
	if viewed && d.Route.Answer != filter.AnswerEvents {
		// No stream has another view; none goes out unviewed.
		return writeRawError(s.client, http.StatusBadGateway, "docker-socket-filter: no view for this stream"),
			fmt.Errorf("no view for answer kind %v", d.Route.Answer)
	}
	status := resp.StatusCode
	body := resp.Body
	length := resp.ContentLength
	if viewed || !bodyAllowed(status) {
		length = -1
	}
	if err := writeHead(s.client, resp, length, bodyAllowed(status)); err != nil {
		return status, err
	}
	// The body refers to its answer, which need not keep its headers.
	resp.Header = nil
	if !bodyAllowed(status) {
		return status, nil
	}
	if length >= 0 {
		bp := p.bufs.Get().(*[]byte)
		defer p.bufs.Put(bp)
		n, err := io.CopyBuffer(s.client, io.LimitReader(onlyReader{body}, length), *bp)
		if err == nil && n < length {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return status, fmt.Errorf("%w: %w", errUpstreamCut, err)
		}
		return status, nil
	}
	cw := chunkWriter{c: s.client}
	if viewed {
		if err := p.relayEvents(&cw, func() error { return nil }, body, view); err != nil {
			return status, p.stopped(&cw, err)
		}
		return status, cw.end()
	}
	for {
		// No buffer while the stream is quiet.
		s.up.br.Peek(1)
		bp := p.bufs.Get().(*[]byte)
		n, rerr := body.Read(*bp)
		var werr error
		if n > 0 {
			_, werr = cw.Write((*bp)[:n])
		}
		p.bufs.Put(bp)
		if werr != nil {
			return status, werr
		}
		if rerr == io.EOF {
			return status, cw.end()
		}
		if rerr != nil {
			return status, p.stopped(&cw, fmt.Errorf("%w: %w", errUpstreamCut, rerr))
		}
	}
}

// stopped ends a chunked stream whose relay failed with err: at shutdown,
// which ended it, with its last chunk, as the engine ends a stream when it
// stops, so that the client sees the end and not a cut.
func (p *Proxy) stopped(cw *chunkWriter, err error) error {
	if p.watches.Err() == nil {
		return err
	}
	if werr := cw.end(); werr != nil {
		return fmt.Errorf("ended at shutdown: %w", werr)
	}
	return fmt.Errorf("ended at shutdown: %w", err)
}

// onlyReader hides a reader's other methods (WriterTo), so that a copy
// goes through the buffer given.
type onlyReader struct{ io.Reader }

// bodyAllowed reports whether an answer with this status has a body.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// writeHead writes the head of an answer the proxy frames itself: the
// engine's status and end-to-end headers, the length given (-1: the body
// chunked), the connection closed after it.
func writeHead(client net.Conn, resp *http.Response, length int64, body bool) error {
	h := make(http.Header, len(resp.Header)+2)
	shareHeader(h, resp.Header)
	delete(h, "Content-Length")
	switch {
	case !body:
	case length >= 0:
		h["Content-Length"] = []string{strconv.FormatInt(length, 10)}
	default:
		h["Transfer-Encoding"] = []string{"chunked"}
	}
	h["Connection"] = []string{"close"}
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 " + strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode) + "\r\n")
	h.Write(&head)
	head.WriteString("\r\n")
	if _, err := client.Write(head.Bytes()); err != nil {
		return fmt.Errorf("write to client: %w", err)
	}
	return nil
}

// writeRawError answers as writeJSONError does, on a connection taken
// over; it returns the status.
func writeRawError(client net.Conn, status int, msg string) int {
	body, err := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	if err != nil {
		body = []byte(`{"message":"docker-socket-filter: internal error"}`)
	}
	body = append(body, '\n')
	head := "HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n" +
		"Content-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n"
	client.Write(append([]byte(head), body...))
	return status
}

// chunkWriter frames each write as one chunk of a chunked body, sent at
// once.
type chunkWriter struct {
	c    net.Conn
	size [20]byte
}

func (cw *chunkWriter) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	size := append(strconv.AppendInt(cw.size[:0], int64(len(b)), 16), '\r', '\n')
	bufs := net.Buffers{size, b, []byte("\r\n")}
	if _, err := bufs.WriteTo(cw.c); err != nil {
		return 0, fmt.Errorf("write to client: %w", err)
	}
	return len(b), nil
}

// end writes the last chunk: the body ended whole.
func (cw *chunkWriter) end() error {
	if _, err := io.WriteString(cw.c, "0\r\n\r\n"); err != nil {
		return fmt.Errorf("write to client: %w", err)
	}
	return nil
}

// hungUp reports whether the peer has shut both directions (POLLHUP).
func hungUp(raw syscall.RawConn) bool {
	hup := false
	raw.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, 0); err == nil && n > 0 {
			hup = fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
		}
	})
	return hup
}

// detached is a stream relayed apart from its handler.
type detached struct {
	client net.Conn
	up     *upConn
}

// end closes both connections: the relay's next read or write fails.
func (s *detached) end() {
	s.up.c.Close()
	s.client.Close()
}

// stop ends the stream at shutdown: the engine's side is closed, and the
// relay, its read failed, ends the answer to the client, whose writes get
// a moment for it.
func (s *detached) stop() {
	s.client.SetWriteDeadline(time.Now().Add(stopWriteGrace))
	s.up.c.Close()
}

// stopWriteGrace is how long a stream's last write may take at shutdown.
const stopWriteGrace = time.Second

// streamSet holds the detached streams: shutdown ends them, and while
// there are any one goroutine checks every hangupPoll whether their
// clients have gone, so that a quiet stream does not outlive its client.
// A client that only shut its sending side stays.
func (ss *streamSet) len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}

type streamSet struct {
	mu       sync.Mutex
	m        map[*detached]struct{}
	ended    bool
	watching bool
}

// add registers s; false once shutdown has begun.
func (ss *streamSet) add(s *detached) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended {
		return false
	}
	if ss.m == nil {
		ss.m = make(map[*detached]struct{})
	}
	ss.m[s] = struct{}{}
	if !ss.watching {
		ss.watching = true
		go ss.watch()
	}
	return true
}

func (ss *streamSet) remove(s *detached) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, s)
}

// end ends every stream, and those added from now on.
func (ss *streamSet) end() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.ended = true
	for s := range ss.m {
		s.stop()
	}
}

func (ss *streamSet) watch() {
	t := time.NewTicker(hangupPoll)
	defer t.Stop()
	var check []*detached
	for range t.C {
		ss.mu.Lock()
		if len(ss.m) == 0 || ss.ended {
			ss.watching = false
			ss.mu.Unlock()
			return
		}
		check = check[:0]
		for s := range ss.m {
			check = append(check, s)
		}
		ss.mu.Unlock()
		for _, s := range check {
			if sc, ok := s.client.(syscall.Conn); ok {
				if raw, err := sc.SyscallConn(); err == nil && hungUp(raw) {
					s.end()
				}
			}
		}
		clear(check)
	}
}
