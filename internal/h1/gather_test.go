package h1

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Once a write of an answer failed, nothing more of it goes out, even if
// the connection could be written again (a handler's own write deadline
// lifted), and it cannot be hijacked: the client has a prefix of the
// answer, never bytes from past a gap.
func TestFailedWriteEndsAnswer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int // of a body written in one write past the head
		hijack bool
	}{
		{"the rest past the buffer in the same system call", 10000, false},
		{"the same, then a hijack", 10000, true},
		{"the rest left in the buffer", 6000, false},
		{"the rest left in the buffer, then a hijack", 6000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			werr := make(chan error, 1)
			srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				w.Header().Set("Content-Length", strconv.Itoa(tc.size))
				rc.SetWriteDeadline(time.Now().Add(-time.Second))
				_, err := w.Write(bytes.Repeat([]byte("B"), tc.size))
				werr <- err
				rc.SetWriteDeadline(time.Time{})
				if tc.hijack {
					if conn, rw, err := rc.Hijack(); err == nil {
						rw.WriteString("HIJACKER")
						rw.Flush()
						conn.Close()
					}
				}
			})}
			t.Cleanup(func() { srv.Close() })
			c := dial(t, serveOn(t, srv))
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: d\r\n\r\n")
			if err := <-werr; err == nil {
				t.Fatal("the write did not fail with its deadline past")
			}
			got, _ := io.ReadAll(c)
			if len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.1 200 OK\r\n")) {
				t.Errorf("the client got %d bytes that are no prefix of the answer: %.40q...", len(got), got)
			}
			if strings.Contains(string(got), "HIJACKER") {
				t.Error("the connection was hijacked after the answer's write failed")
			}
		})
	}
}

// Writes of every size about the 4 KiB write buffer, some flushed, reach
// the client whole and in order, with a length or chunked.
func TestWritesAboutTheBuffer(t *testing.T) {
	plans := [][]int{{1, 5000}, {5000}, {4090, 10}, {3000, 3000, 3000}, {10000, 1, 10000}, {4096}, {4095, 4097}, {100, 4000, 8200}}
	for _, sizes := range plans {
		for _, length := range []bool{false, true} {
			for _, flush := range []bool{false, true} {
				var want strings.Builder
				for i, n := range sizes {
					want.WriteString(strings.Repeat(string(rune('a'+i)), n))
				}
				srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if length {
						w.Header().Set("Content-Length", strconv.Itoa(want.Len()))
					}
					for i, n := range sizes {
						io.WriteString(w, strings.Repeat(string(rune('a'+i)), n))
						if flush {
							w.(http.Flusher).Flush()
						}
					}
				})}
				sock := serveOn(t, srv)
				req := "GET / HTTP/1.1\r\nHost: d\r\n\r\n"
				got := exchange(t, sock, []byte(req+req))
				srv.Close()
				if len(got) != 2 || got[0].body != want.String() || got[1].body != want.String() || got[0].err != "" {
					t.Errorf("writes %v (length %v, flushed %v): got %v", sizes, length, flush, got)
				}
			}
		}
	}
}
