package h1

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// connReader is what a connection's bufio.Reader reads from: the
// connection, under a bound while a request head is read, and, when a
// handler waits for its client to go away, in the background, one byte
// at a time, with the byte kept for the next read.
type connReader struct {
	c *conn

	mu   sync.Mutex
	cond sync.Cond
	// limit is how many bytes may still be read; -1 for no bound.
	limit int64
	hit   bool
	// inRead is true while a read, in the background or not, is under
	// way.
	inRead bool
	// aborting is true while abortPendingRead ends a background read.
	aborting bool
	hasByte  bool
	byteBuf  [1]byte
	// gone ends the request whose handler waits for its client.
	gone context.CancelFunc
}

func (cr *connReader) setLimit(n int64) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.limit, cr.hit = n, false
}

func (cr *connReader) hitLimit() bool {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.hit
}

// pending reports whether the background read took a byte that is not
// read yet.
func (cr *connReader) pending() bool {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.hasByte
}

func (cr *connReader) Read(p []byte) (int, error) {
	cr.mu.Lock()
	if cr.inRead {
		cr.mu.Unlock()
		// A handler reads its body while the connection is read in
		// the background: a bug, refused rather than raced.
		return 0, errors.New("h1: read while the connection is read in the background")
	}
	if cr.limit == 0 {
		cr.hit = true
		cr.mu.Unlock()
		return 0, io.EOF
	}
	if len(p) == 0 {
		cr.mu.Unlock()
		return 0, nil
	}
	if cr.limit > 0 && int64(len(p)) > cr.limit {
		p = p[:cr.limit]
	}
	if cr.hasByte {
		p[0] = cr.byteBuf[0]
		cr.hasByte = false
		if cr.limit > 0 {
			cr.limit--
		}
		cr.mu.Unlock()
		return 1, nil
	}
	cr.inRead = true
	cr.mu.Unlock()
	n, err := cr.c.rwc.Read(p)
	cr.mu.Lock()
	cr.inRead = false
	if cr.limit > 0 {
		cr.limit -= int64(n)
	}
	cr.mu.Unlock()
	cr.cond.Broadcast()
	return n, err
}

// watch reads the connection in the background until abortPendingRead:
// a byte that comes is kept for the next request; the end of the
// connection, or its failure, calls gone.
func (cr *connReader) watch(gone context.CancelFunc) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if cr.inRead || cr.hasByte {
		// A byte of the next request came already: the client is
		// there.
		return
	}
	cr.inRead, cr.gone = true, gone
	cr.c.rwc.SetReadDeadline(time.Time{})
	go cr.backgroundRead()
}

func (cr *connReader) backgroundRead() {
	n, err := cr.c.rwc.Read(cr.byteBuf[:])
	cr.mu.Lock()
	if n == 1 {
		cr.hasByte = true
	}
	var ne net.Error
	if err != nil && !(cr.aborting && errors.As(err, &ne) && ne.Timeout()) {
		cr.gone()
	}
	cr.aborting, cr.inRead, cr.gone = false, false, nil
	cr.mu.Unlock()
	cr.cond.Broadcast()
}

// abortPendingRead ends a background read and waits until it has.
func (cr *connReader) abortPendingRead() {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if cr.gone == nil {
		return
	}
	cr.aborting = true
	// A deadline long past ends the read at once.
	cr.c.rwc.SetReadDeadline(time.Unix(1, 0))
	for cr.inRead {
		cr.cond.Wait()
	}
	cr.c.rwc.SetReadDeadline(time.Time{})
}
