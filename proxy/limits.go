package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// minBodyRate is the slowest a request body may arrive, after the
// allowance of Config.BodyTimeout: a client that sends less holds memory
// and an engine connection for nothing.
const minBodyRate = 64 << 10 // bytes per second

// DefaultBodyTimeout is how long any request body may take before the
// rate floor applies.
const DefaultBodyTimeout = 30 * time.Second

// DefaultMaxBodyMemory bounds the judged bodies held at once, all callers
// together.
const DefaultMaxBodyMemory = 64 << 20

// DefaultEngineTimeout bounds the wait for the engine's answer head to a
// request that is not a stream, and for each lookup.
const DefaultEngineTimeout = 2 * time.Minute

// statusError is an error with the status it is answered with.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// bodyBudget bounds the bytes of judged bodies held at once. A quarter is
// kept for the callers the policy lists, so that a crowd of others cannot
// lock the admin's own tools out.
type bodyBudget struct {
	mu        sync.Mutex
	used, max int64
}

func (b *bodyBudget) take(n int64, listed bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	limit := b.max
	if !listed {
		limit -= b.max / 4
	}
	if b.used+n > limit {
		return false
	}
	b.used += n
	return true
}

func (b *bodyBudget) give(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
}

// bodyReads are the request bodies being read, so that shutdown can cut
// them: nothing of such a request has reached the engine yet.
type bodyReads struct {
	mu    sync.Mutex
	rcs   map[*http.ResponseController]struct{}
	ended bool
}

// deadlineBody reads a request body under a deadline that grows with
// what arrived: the allowance, then one second per minBodyRate bytes.
type deadlineBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	allow time.Duration
	n     int64
	reads *bodyReads
}

// watchBody puts a request's body under the deadline and registers it
// with reads; done lifts the deadline (a tunnel or a stream must not
// inherit it) and unregisters it.
func (reads *bodyReads) watchBody(w http.ResponseWriter, r *http.Request, allow time.Duration) (done func()) {
	if r.ContentLength == 0 {
		return func() {}
	}
	rc := http.NewResponseController(w)
	b := &deadlineBody{ReadCloser: r.Body, rc: rc, start: time.Now(), allow: allow, reads: reads}
	reads.mu.Lock()
	if reads.ended {
		reads.mu.Unlock()
		rc.SetReadDeadline(time.Now())
	} else {
		reads.rcs[rc] = struct{}{}
		reads.mu.Unlock()
		rc.SetReadDeadline(b.start.Add(allow))
	}
	orig := r.Body
	r.Body = b
	return func() {
		// The server looks at the body it made to tell whether what is
		// left of it may be drained for the next request.
		r.Body = orig
		reads.mu.Lock()
		delete(reads.rcs, rc)
		ended := reads.ended
		reads.mu.Unlock()
		if !ended {
			rc.SetReadDeadline(time.Time{})
		}
	}
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if n > 0 {
		b.reads.mu.Lock()
		if !b.reads.ended {
			b.rc.SetReadDeadline(b.start.Add(b.allow + time.Duration(b.n)*time.Second/minBodyRate))
		}
		b.reads.mu.Unlock()
	}
	if err == io.EOF {
		// Past the body, the server reads on to notice a client that
		// goes away; that read must not time out.
		b.reads.mu.Lock()
		if !b.reads.ended {
			b.rc.SetReadDeadline(time.Time{})
		}
		b.reads.mu.Unlock()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if b.reads.isEnded() {
			return n, &statusError{http.StatusServiceUnavailable, "shutting down"}
		}
		return n, &statusError{http.StatusRequestTimeout, fmt.Sprintf("the request body came too slowly (%d bytes in %s; after %s, at least %d KiB/s)",
			b.n, time.Since(b.start).Round(time.Millisecond), b.allow, minBodyRate>>10)}
	}
	return n, err
}

func (reads *bodyReads) isEnded() bool {
	reads.mu.Lock()
	defer reads.mu.Unlock()
	return reads.ended
}

// end cuts every body being read, and those to come.
func (reads *bodyReads) end() {
	reads.mu.Lock()
	defer reads.mu.Unlock()
	reads.ended = true
	for rc := range reads.rcs {
		rc.SetReadDeadline(time.Now())
	}
}

// freshConns are accepted connections that have sent no request yet:
// shutdown closes them at once, where the server would wait for them.
type freshConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	ended bool
}

func (f *freshConns) track(c net.Conn, s http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case s == http.StateNew && f.ended:
		c.Close()
	case s == http.StateNew:
		f.conns[c] = struct{}{}
	default:
		delete(f.conns, c)
	}
}

func (f *freshConns) end() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = true
	for c := range f.conns {
		c.Close()
	}
	clear(f.conns)
}
