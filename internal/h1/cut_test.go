package h1

import (
	"io"
	"net/http"
	"slices"
	"testing"
)

// Request bodies the client cuts off (it half-closes) are answered as
// net/http's server answers them: whether the answer says the connection
// closes depends on the protocol, an Expect, how much is missing and
// whether the handler closed the body.
func TestCutBodiesLikeNetHTTP(t *testing.T) {
	readAll := func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		io.WriteString(w, "ok")
	}
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
		raw  string
	}{
		{"a little missing", echo, "POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: 10\r\n\r\nabc"},
		{"256 KiB or more missing", echo, "POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: 700000\r\n\r\nabc"},
		{"HTTP/1.0 kept alive, 256 KiB or more missing", echo,
			"POST /x HTTP/1.0\r\nHost: d\r\nConnection: keep-alive\r\nContent-Length: 700000\r\n\r\nabc"},
		{"HTTP/1.0, 256 KiB or more missing", echo, "POST /x HTTP/1.0\r\nHost: d\r\nContent-Length: 700000\r\n\r\nabc"},
		{"closed by the handler, 256 KiB or more missing", func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			r.Body.Close()
			io.WriteString(w, "ok")
		}, "POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: 700000\r\n\r\nabc"},
		{"after the server's 100 Continue", readAll,
			"POST /x HTTP/1.1\r\nHost: d\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\nabc"},
		{"after the handler's own 100 Continue", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusContinue)
			readAll(w, r)
		}, "POST /x HTTP/1.1\r\nHost: d\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\nabc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			std, ours := serveBoth(t, tc.h)
			want := exchange(t, std, []byte(tc.raw))
			if got := exchange(t, ours, []byte(tc.raw)); !slices.Equal(got, want) {
				t.Errorf("answers differ\n got %+v\nwant %+v", got, want)
			}
		})
	}
}
