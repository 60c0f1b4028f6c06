package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// response is the http.ResponseWriter of one request. Its head goes out
// at the first write, flush or the handler's end; a body of unknown
// length is chunked (HTTP/1.1) or ends with the connection (HTTP/1.0).
type response struct {
	c      *conn
	req    *http.Request
	body   *requestBody
	cancel context.CancelFunc
	header http.Header

	wroteHeader   bool
	status        int
	bodyAllowed   bool
	chunked       bool
	contentLength int64
	written       int64
	closeAfter    bool
	// saysClose is true when the handler's header closes the
	// connection.
	saysClose bool
	// closeQuietly ends the connection after the answer without saying
	// so in it.
	closeQuietly bool
	werr         error
	// headPending is true while the head waits for the length of an
	// answer, held meanwhile.
	headPending bool
	held        []byte

	// keepAlive10 marks an HTTP/1.0 client that asked to keep the
	// connection: it must be told it is kept.
	keepAlive10 bool
	// expectationFailed marks an Expect the server cannot meet.
	expectationFailed bool

	// mu guards what the request's body, read on another goroutine
	// (a transport's), shares with the handler.
	mu sync.Mutex
	// watching is true once the handler waits on the request's
	// context: the connection is then read in the background, from the
	// end of the body, to tell when the client goes.
	watching bool
	done     bool
	// continueState is 1 while a 100 Continue may still be sent, 2 once
	// it was.
	continueState int
	// expectsContinue is true for a request with a body that asked for
	// a 100 Continue: one cut off before its end is answered as one
	// whose framing broke, as from net/http's server, whoever sent the
	// 100 Continue.
	expectsContinue bool
}

func newResponse(ctx context.Context, c *conn, req *http.Request) *response {
	w := &response{c: c, header: make(http.Header), contentLength: -1}
	cctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	w.req = req.WithContext(&requestContext{Context: cctx, w: w})
	// http.ReadRequest tells an HTTP/1.0 client that asks to keep the
	// connection from one that does not.
	w.closeAfter = req.Close
	w.keepAlive10 = !req.Close && !req.ProtoAtLeast(1, 1)
	if req.Body != nil && req.Body != http.NoBody {
		w.body = &requestBody{rc: req.Body, w: w}
		w.req.Body = w.body
	}
	if expect := req.Header.Get("Expect"); hasToken(expect, "100-continue") {
		if req.ProtoAtLeast(1, 1) && req.ContentLength != 0 && w.body != nil {
			w.continueState = 1
			w.expectsContinue = true
		}
	} else if expect != "" {
		w.expectationFailed = true
	}
	return w
}

// requestContext is a request's context: a handler that waits on it
// asks to learn of a client that goes away.
type requestContext struct {
	context.Context
	w *response
}

func (rc *requestContext) Done() <-chan struct{} {
	rc.w.watch()
	return rc.Context.Done()
}

func (w *response) watch() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.watching || w.done {
		return
	}
	w.watching = true
	if w.body == nil || w.body.eof {
		w.c.cr.watch(w.cancel)
	}
}

// requestBody is the request's body as the handler reads it: it sends
// the 100 Continue the client waits for, and, at the body's end, starts
// the watch a handler asked for. Closing it does not read the rest: a
// body not read to its end costs the connection instead.
type requestBody struct {
	rc     io.ReadCloser
	w      *response
	eof    bool
	err    error
	closed bool
	read   int64 // bytes read
	// closedByHandler is true once the handler closed it; closed is
	// also set at its end.
	closedByHandler bool
}

func (b *requestBody) Read(p []byte) (int, error) {
	w := b.w
	w.mu.Lock()
	if b.closed {
		w.mu.Unlock()
		return 0, http.ErrBodyReadAfterClose
	}
	if w.continueState == 1 {
		// The head is not written yet: WriteHeader, which waits for
		// this, ends the chance. So nothing else is in the writer.
		w.continueState = 2
		w.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		err := w.c.bw.Flush()
		if err != nil {
			w.mu.Unlock()
			return 0, err
		}
	}
	w.mu.Unlock()
	n, err := b.rc.Read(p)
	w.mu.Lock()
	b.read += int64(n)
	switch {
	case err == io.EOF:
		b.eof = true
		if w.watching && !w.done {
			w.c.cr.watch(w.cancel)
		}
	case err != nil:
		b.err = err
	}
	w.mu.Unlock()
	return n, err
}

func (b *requestBody) Close() error {
	b.w.mu.Lock()
	defer b.w.mu.Unlock()
	b.closed, b.closedByHandler = true, true
	return nil
}

func (b *requestBody) complete() bool {
	b.w.mu.Lock()
	defer b.w.mu.Unlock()
	return b.eof
}

// bodyUnread reports whether the request had a body not read to its
// end: a read of it begun before the handler returned may still be under
// way, on another goroutine.
func (w *response) bodyUnread() bool { return w.body != nil && !w.body.complete() }

// state reports whether the body was read to its end, how much of it was
// read, whether the handler closed it, and why a read of it failed.
func (b *requestBody) state() (complete bool, read int64, closed bool, err error) {
	b.w.mu.Lock()
	defer b.w.mu.Unlock()
	return b.eof, b.read, b.closedByHandler, b.err
}

func (w *response) Header() http.Header { return w.header }

// UseHeader makes h the answer's header instead of the one Header gives,
// whose fields are added to it: a proxy hands over the header it read
// rather than copying it field by field. After the head was written, it
// does nothing.
func (w *response) UseHeader(h http.Header) {
	if w.wroteHeader || w.c.hijacked {
		return
	}
	maps.Copy(h, w.header)
	w.header = h
}

func (w *response) WriteHeader(code int) {
	if w.c.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("h1: invalid WriteHeader code " + strconv.Itoa(code))
	}
	w.mu.Lock()
	if w.continueState == 1 {
		w.continueState = 0
	}
	w.mu.Unlock()
	if code < 200 && code != http.StatusSwitchingProtocols {
		// An interim answer: its head goes out alone, now.
		bw := w.c.bw
		writeStatusLine(bw, w.req.ProtoAtLeast(1, 1), code)
		writeFields(bw, w.header, false)
		bw.WriteString("\r\n")
		if err := bw.Flush(); err != nil {
			w.werr = err
		}
		return
	}
	w.wroteHeader, w.status = true, code
	h := w.header
	w.bodyAllowed = bodyAllowedForStatus(code)
	if v := h["Content-Length"]; len(v) > 0 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 && len(v) == 1 {
			w.contentLength = n
		} else {
			delete(h, "Content-Length")
		}
	}
	if !w.bodyAllowed {
		// As from net/http's server: nothing that would describe a
		// body (RFC 9110, 15.4.5 for a 304).
		delete(h, "Content-Length")
		delete(h, "Transfer-Encoding")
		if code == http.StatusNotModified {
			delete(h, "Content-Type")
		}
		w.contentLength = -1
	}
	if hasToken(strings.Join(h["Connection"], ","), "close") {
		w.closeAfter, w.saysClose = true, true
	}
	// The head waits for the first write: the body's type may be told
	// from it, and a small answer's length learnt.
	w.headPending = true
}

// quietCutBody is how much of a body that broke off may be missing for
// the connection to end unannounced, as net/http's server ends it: what
// it would have read past an answer (its maxPostHandlerReadBytes).
const quietCutBody = 256 << 10

// smallAnswer is how much of an answer of unknown length is held to learn
// its length.
const smallAnswer = 2 << 10

// writeHead writes the head, framing a body whose length is not known by
// chunks (HTTP/1.1) or by the connection's end (HTTP/1.0). first is the
// body's start, to tell its type by when the handler did not.
func (w *response) writeHead(first []byte) {
	w.headPending = false
	h, bw := w.header, w.c.bw
	proto11 := w.req.ProtoAtLeast(1, 1)
	head := w.req.Method == http.MethodHead
	if w.body != nil {
		switch complete, read, closed, err := w.body.state(); {
		case errors.Is(err, io.ErrUnexpectedEOF) && w.req.ContentLength > 0 && !w.expectsContinue:
			// The client stopped sending before the length it gave. As
			// from net/http's server, the connection ends unannounced,
			// unless it was to be kept, more is missing than that
			// server would read past and the handler left the body
			// open: then it says so, whatever the protocol. (After an
			// Expect, it says so below.)
			if !w.closeAfter && !closed && w.req.ContentLength-read >= quietCutBody {
				w.closeAfter, w.saysClose = true, true
			} else {
				w.closeQuietly = true
			}
		case err != nil:
			// The body's framing broke: what follows on the wire is
			// no request.
			w.closeAfter = true
		case !complete:
			// What the client may still be sending of its body is not
			// read past this answer: the connection ends after it,
			// and says so.
			w.closeAfter = true
		}
	}
	if w.c.srv.closing.Load() {
		w.closeAfter = true
	}
	if _, typed := h["Content-Type"]; !typed && w.bodyAllowed && len(first) > 0 {
		h.Set("Content-Type", http.DetectContentType(first))
	}
	if w.bodyAllowed && !head && w.contentLength < 0 {
		if proto11 {
			w.chunked = true
		} else {
			w.closeAfter = true
		}
	}
	switching := w.status == http.StatusSwitchingProtocols
	writeStatusLine(bw, proto11, w.status)
	writeFields(bw, h, switching)
	if _, ok := h["Date"]; !ok {
		b := append(bw.AvailableBuffer(), "Date: "...)
		b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
		bw.Write(append(b, "\r\n"...))
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case switching:
		// What follows is the handler's protocol, once it has taken
		// the connection; one it did not take is closed.
		w.closeAfter = true
	case w.closeAfter && (proto11 || w.saysClose):
		// An HTTP/1.0 client expects the end anyway, unless the
		// handler says it.
		bw.WriteString("Connection: close\r\n")
	case w.closeAfter:
	case w.keepAlive10:
		bw.WriteString("Connection: keep-alive\r\n")
	}
	bw.WriteString("\r\n")
}

// writeHeld ends the wait for the head: the head goes out, typed by what
// was held or else by next, then what was held.
func (w *response) writeHeld(next []byte) error {
	held := w.held
	w.held = nil
	if len(held) > 0 {
		next = held
	}
	w.writeHead(next)
	if len(held) == 0 {
		return nil
	}
	_, err := w.writeBody(held)
	return err
}

func (w *response) Write(p []byte) (int, error) {
	if w.c.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.bodyAllowed {
		return 0, http.ErrBodyNotAllowed
	}
	if w.werr != nil {
		return 0, w.werr
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.contentLength >= 0 && w.written+int64(len(w.held))+int64(len(p)) > w.contentLength {
		return 0, http.ErrContentLength
	}
	if w.headPending {
		switch {
		case w.contentLength >= 0:
			w.writeHead(p)
		case len(w.held)+len(p) <= smallAnswer:
			w.held = append(w.held, p...)
			return len(p), nil
		default:
			if err := w.writeHeld(p); err != nil {
				return 0, err
			}
		}
	}
	return w.writeBody(p)
}

func (w *response) writeBody(p []byte) (int, error) {
	if w.req.Method == http.MethodHead {
		// Counted for the length the head gives, not sent.
		w.written += int64(len(p))
		return len(p), nil
	}
	bw := w.c.bw
	if w.chunked {
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	var n int
	var err error
	if len(p) > bw.Available() && bw.Buffered() > 0 {
		// The buffer is flushed, then p written past it: in one writev.
		w.c.gw.gather(&w.c.srv.gathered)
		n, err = bw.Write(p)
		if rerr := w.c.gw.release(); err == nil && rerr != nil {
			n, err = 0, rerr
		}
	} else {
		n, err = bw.Write(p)
	}
	if w.chunked && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	w.written += int64(n)
	if err != nil {
		w.werr = err
	}
	return n, err
}

// FlushError sends what was written; http.ResponseController.Flush
// calls it.
func (w *response) FlushError() error {
	if w.c.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.werr != nil {
		return w.werr
	}
	if w.headPending {
		if err := w.writeHeld(nil); err != nil {
			return err
		}
	}
	if err := w.c.bw.Flush(); err != nil {
		w.werr = err
		return err
	}
	return nil
}

// Flush is http.Flusher's, for handlers that look for it.
func (w *response) Flush() { w.FlushError() }

// SetReadDeadline is http.ResponseController.SetReadDeadline's.
func (w *response) SetReadDeadline(t time.Time) error { return w.c.rwc.SetReadDeadline(t) }

// SetWriteDeadline is http.ResponseController.SetWriteDeadline's.
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.rwc.SetWriteDeadline(t) }

// Hijack hands the connection over, with its buffers: the reader may
// hold bytes the client sent past the request.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c := w.c
	if c.hijacked {
		return nil, nil, http.ErrHijacked
	}
	w.end()
	c.cr.abortPendingRead()
	if c.cr.pending() {
		// The byte the background read took goes back before what the
		// hijacker reads, into the reader it is given.
		c.br.Peek(c.br.Buffered() + 1)
	}
	if w.headPending {
		w.writeHeld(nil)
	}
	if err := c.bw.Flush(); err != nil {
		return nil, nil, err
	}
	c.hijacked = true
	c.srv.setState(c.rwc, http.StateHijacked)
	c.srv.forget(c)
	return c.rwc, bufio.NewReadWriter(c.br, c.bw), nil
}

// end closes the request to what still holds it once its handler is
// done: a body read from now on fails, without a read of the connection,
// whose buffers may soon serve another, and no 100 Continue is sent.
func (w *response) end() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.continueState == 1 {
		w.continueState = 0
	}
	if w.body != nil {
		w.body.closed = true
	}
}

// finish ends the answer once the handler has returned, and reports
// whether the connection may carry the next request.
func (w *response) finish() bool {
	w.end()
	defer w.cancel()
	w.c.cr.abortPendingRead()
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.headPending {
		// The whole answer is known: its length goes with it (a HEAD
		// whose handler wrote nothing gives none, as from net/http).
		if w.contentLength < 0 && w.bodyAllowed && (w.req.Method != http.MethodHead || len(w.held) > 0) {
			w.contentLength = int64(len(w.held))
			w.header["Content-Length"] = []string{strconv.Itoa(len(w.held))}
		}
		w.writeHeld(nil)
	}
	bw := w.c.bw
	if w.chunked && w.werr == nil {
		bw.WriteString("0\r\n\r\n")
	}
	if w.bodyAllowed && w.req.Method != http.MethodHead && w.contentLength >= 0 && w.written < w.contentLength {
		// The client waits for bytes that will not come: only the
		// connection's end tells it.
		w.closeAfter = true
	}
	flushErr := bw.Flush()
	if w.bodyUnread() {
		// The client may still be sending it: it is given a moment to
		// stop, unless the answer could not be written either.
		if flushErr == nil && w.werr == nil {
			w.c.linger()
		}
		return false
	}
	if flushErr != nil || w.werr != nil {
		return false
	}
	return !w.closeAfter && !w.closeQuietly
}

func bodyAllowedForStatus(code int) bool {
	switch {
	case code >= 100 && code <= 199, code == http.StatusNoContent, code == http.StatusNotModified:
		return false
	}
	return true
}

func writeStatusLine(bw *bufio.Writer, proto11 bool, code int) {
	if proto11 {
		bw.WriteString("HTTP/1.1 ")
	} else {
		bw.WriteString("HTTP/1.0 ")
	}
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(code), 10))
	bw.WriteByte(' ')
	if text := http.StatusText(code); text != "" {
		bw.WriteString(text)
	} else {
		bw.WriteString("status code ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(code), 10))
	}
	bw.WriteString("\r\n")
}

// writeFields writes the handler's header fields but those the server
// frames itself (Connection too, but on a switch of protocols); a name that is not a token is left out and a line
// break in a value becomes a space, as net/http's server does.
func writeFields(bw *bufio.Writer, h http.Header, switching bool) {
	for k, vv := range h {
		switch {
		case k == "Transfer-Encoding", k == "Connection" && !switching:
			continue
		}
		if !validFieldName(k) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(v)
			}
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
}

func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		b := k[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}

// hasToken reports whether v holds token, in any case, between the start
// or end of v, spaces, tabs and commas: net/http's server reads Expect
// and Connection so.
func hasToken(v, token string) bool {
	for sp := 0; sp+len(token) <= len(v); sp++ {
		if sp > 0 && !isTokenBoundary(v[sp-1]) {
			continue
		}
		if end := sp + len(token); end != len(v) && !isTokenBoundary(v[end]) {
			continue
		}
		if strings.EqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func isTokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }
