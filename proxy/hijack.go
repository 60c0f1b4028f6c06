package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
	"golang.org/x/sys/unix"
)

// maxHijackBody bounds the JSON body of attach, exec start and upgrade
// requests, which is read whole before the connection is handed over.
const maxHijackBody = 1 << 20

// forwardHijack serves operations whose connection may leave HTTP. The
// request goes over a fresh upstream connection of its own; if the engine
// answers 101, or 200 with a raw stream of unknown length (the legacy
// attach form), both connections become a tunnel, copied in both directions
// with half-close passed on: the client's end of stdin reaches the
// container, and output after it still reaches the client.
func (p *Proxy) forwardHijack(w http.ResponseWriter, r *http.Request, d *filter.Decision) (int, error) {
	// Whatever answer is not a tunnel ends the connection: bytes the
	// client sent for the tunnel must not be read as its next request.
	w.Header().Set("Connection", "close")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxHijackBody+1))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "docker-socket-filter: cannot read request body: "+err.Error())
		return http.StatusBadRequest, err
	}
	if len(body) > maxHijackBody {
		writeJSONError(w, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("docker-socket-filter: request body over %d bytes", maxHijackBody))
		return http.StatusRequestEntityTooLarge, nil
	}
	out, err := p.outbound(p.watches, r, d, true)
	if err != nil {
		return p.badGateway(w, err)
	}
	if len(body) > 0 {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
	}
	// The body is read already; an interim 100 from the engine would
	// only be mistaken for its answer.
	out.Header.Del("Expect")
	p.auditForward(r, d)
	// A client may half-close right after its request (stdin already
	// sent), which ends the request's context: only shutdown may end the
	// tunnel's setup.
	conn, err := p.dialer.DialContext(p.watches, "unix", p.upstream)
	if err != nil {
		return p.setupFailed(w, err)
	}
	up := conn.(*net.UnixConn)
	stopUp := context.AfterFunc(p.watches, func() { up.Close() })
	if err := out.Write(up); err != nil {
		stopUp()
		up.Close()
		return p.setupFailed(w, err)
	}
	upr := bufio.NewReader(up)
	// The engine answers the head at once; only the tunnel after it may
	// stay quiet.
	up.SetReadDeadline(time.Now().Add(p.engineTimeout))
	resp, err := http.ReadResponse(upr, out)
	up.SetReadDeadline(time.Time{})
	if err != nil {
		stopUp()
		up.Close()
		return p.setupFailed(w, err)
	}
	if !isTunnel(resp) {
		defer stopUp()
		defer up.Close()
		defer resp.Body.Close()
		copyHeader(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		return resp.StatusCode, p.relayBody(w, resp, true, nil)
	}
	// Until the hijack succeeds the client can still be answered, and
	// must be: a handler that returns without writing sends an empty 200,
	// which a client takes for a session that ended at once.
	if !stopUp() {
		up.Close()
		return p.setupFailed(w, errors.New("shutting down before the tunnel opened"))
	}
	client, clientBuf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		writeJSONError(w, http.StatusInternalServerError, "docker-socket-filter: cannot take over the client connection: "+err.Error())
		return http.StatusInternalServerError, fmt.Errorf("hijack client connection: %w", err)
	}
	// The body's deadline must not reach into the tunnel.
	client.SetReadDeadline(time.Time{})
	stopTunnel := context.AfterFunc(p.watches, func() { up.Close(); client.Close() })
	defer stopTunnel()
	if err := writeResponseHead(clientBuf.Writer, resp); err != nil {
		client.Close()
		up.Close()
		return resp.StatusCode, err
	}
	// Bytes the client sent after its request may sit in the server's
	// buffer; they go first, then the connection is read directly.
	pending, err := clientBuf.Reader.Peek(clientBuf.Reader.Buffered())
	if err != nil {
		client.Close()
		up.Close()
		return resp.StatusCode, fmt.Errorf("read buffered client bytes: %w", err)
	}
	return resp.StatusCode, p.splice(client, bytes.Clone(pending), up, upr)
}

// setupFailed answers a tunnel whose set-up failed. At shutdown the
// upstream connection is closed on purpose: the engine is not at fault,
// and the client is told so.
func (p *Proxy) setupFailed(w http.ResponseWriter, err error) (int, error) {
	if errors.Is(err, os.ErrDeadlineExceeded) && p.watches.Err() == nil {
		writeJSONError(w, http.StatusGatewayTimeout, fmt.Sprintf("docker-socket-filter: the Docker engine did not answer within %s (it may have acted on the request)", p.engineTimeout))
		return http.StatusGatewayTimeout, err
	}
	if p.watches.Err() == nil {
		return p.badGateway(w, err)
	}
	writeJSONError(w, http.StatusServiceUnavailable, "docker-socket-filter: shutting down: the session was not opened")
	return http.StatusServiceUnavailable, fmt.Errorf("shutting down before the tunnel opened: %w", err)
}

// isTunnel reports whether the engine handed the connection over: an
// upgrade, or a 200 whose body runs until the connection ends.
func isTunnel(resp *http.Response) bool {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return true
	}
	return resp.StatusCode == http.StatusOK && resp.ContentLength < 0 && len(resp.TransferEncoding) == 0
}

// writeResponseHead writes the engine's status line and headers as they
// came: past this point the connection is the engine's protocol, not ours.
func writeResponseHead(w *bufio.Writer, resp *http.Response) error {
	fmt.Fprintf(w, "HTTP/1.1 %s\r\n", resp.Status)
	if err := resp.Header.Write(w); err != nil {
		return fmt.Errorf("write response head: %w", err)
	}
	w.WriteString("\r\n")
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write response head: %w", err)
	}
	return nil
}

type closeWriter interface{ CloseWrite() error }

// splice copies both directions until the engine's side ends, starting
// with the bytes each side's reader holds already (the client's sent
// after its request, the engine's after its answer head). The client's
// EOF becomes a half-close toward the engine; the engine's EOF ends the
// session, since nothing sent after it could be delivered.
func (p *Proxy) splice(client net.Conn, clientPending []byte, up *net.UnixConn, upR *bufio.Reader) error {
	inDone := make(chan error, 1)
	outDone := make(chan struct{})
	go func() {
		_, err := up.Write(clientPending)
		if err == nil {
			err = p.pump(up, client)
		}
		if cerr := up.CloseWrite(); err == nil {
			err = cerr
		}
		inDone <- err
		// The client's EOF may be a half-close or a client gone for
		// good; only the latter must not hold the session open while
		// the engine has nothing to say.
		if err == nil {
			watchHangup(client, outDone, func() { up.Close(); client.Close() })
		}
	}()
	upPending, _ := upR.Peek(upR.Buffered())
	_, outErr := client.Write(upPending)
	if outErr == nil {
		outErr = p.pump(client, up)
	}
	close(outDone)
	if cw, ok := client.(closeWriter); ok {
		cw.CloseWrite()
	}
	up.Close()
	client.SetReadDeadline(time.Now())
	inErr := <-inDone
	client.Close()
	if outErr != nil {
		return fmt.Errorf("engine to client: %w", outErr)
	}
	if inErr != nil && !errors.Is(inErr, net.ErrClosed) && !errors.Is(inErr, os.ErrDeadlineExceeded) {
		return fmt.Errorf("client to engine: %w", inErr)
	}
	return nil
}

// pump copies src to dst until src ends. It reads into a pooled buffer
// as long as src has bytes, and gives the buffer back when a read finds
// none, before it waits: a quiet session holds none, a busy one copies in
// large steps, one read and one write each.
func (p *Proxy) pump(dst io.Writer, src net.Conn) error {
	sc, ok := src.(syscall.Conn)
	if !ok {
		bp := p.bufs.Get().(*[]byte)
		defer p.bufs.Put(bp)
		_, err := io.CopyBuffer(dst, onlyReader{src}, *bp)
		return err
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("pump: %w", err)
	}
	for {
		bp, n, err := p.readHeld(raw)
		if err != nil {
			return err
		}
		if n == 0 {
			p.bufs.Put(bp)
			return nil
		}
		_, err = dst.Write((*bp)[:n])
		p.bufs.Put(bp)
		if err != nil {
			return err
		}
	}
}

// readHeld waits for bytes (or the end) and reads them into a pooled
// buffer, which it holds only while a read finds something. The read and
// the wait are one call of the poller: a second call would reset the
// readiness a byte arriving in between had set, and the byte would wait
// for the next one. 0 bytes is the end; the buffer is the caller's to
// give back unless an error is returned.
func (p *Proxy) readHeld(raw syscall.RawConn) (*[]byte, int, error) {
	var bp *[]byte
	var n int
	var rerr error
	err := raw.Read(func(fd uintptr) bool {
		if bp == nil {
			bp = p.bufs.Get().(*[]byte)
		}
		for {
			n, rerr = unix.Read(int(fd), *bp)
			if rerr != unix.EINTR {
				break
			}
		}
		if rerr == unix.EAGAIN {
			p.bufs.Put(bp)
			bp = nil
			return false
		}
		return true
	})
	if err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		if bp != nil {
			p.bufs.Put(bp)
		}
		return nil, 0, fmt.Errorf("read: %w", err)
	}
	return bp, n, nil
}

// hangupPoll is how often a half-closed tunnel client is checked for
// having gone away entirely.
const hangupPoll = 5 * time.Second

// watchHangup calls gone once the client has closed its connection
// entirely (POLLHUP: both directions shut), checking until done closes.
// A client that only shut its sending side stays.
func watchHangup(c net.Conn, done <-chan struct{}, gone func()) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	t := time.NewTicker(hangupPoll)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if hungUp(raw) {
			gone()
			return
		}
	}
}
