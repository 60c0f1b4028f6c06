package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestStaleRetriable: a request the engine may have acted on is never
// sent again, unless it is a read.
func TestStaleRetriable(t *testing.T) {
	cases := []struct {
		sent   bool
		method string
		want   bool
	}{
		{false, "POST", true},
		{true, "POST", false},
		{true, "DELETE", false},
		{true, "GET", true},
		{true, "HEAD", true},
	}
	for _, c := range cases {
		e := &staleError{sent: c.sent}
		if got := e.retriable(c.method); got != c.want {
			t.Errorf("sent=%v %s: retriable %v, want %v", c.sent, c.method, got, c.want)
		}
	}
}

// TestRequestHead: what goes upstream is the judged path and the client's
// end-to-end header, framed by the filter; a request line that cannot be
// sent as it is goes nowhere.
func TestRequestHead(t *testing.T) {
	header := http.Header{
		"User-Agent":        {"docker/27"},
		"X-Registry-Auth":   {"e30="},
		"Connection":        {"keep-alive, X-Hop"},
		"X-Hop":             {"1"},
		"Transfer-Encoding": {"chunked"},
		"Content-Length":    {"999"},
		"Expect":            {"100-continue"},
		"Accept-Encoding":   {"gzip"},
		"Host":              {"evil"},
	}
	cases := []struct {
		name, method, path, query string
		length                    int64
		want                      []string // lines after the request line, sorted, without Host
		wantErr                   bool
	}{
		{name: "a read", method: "GET", path: "/v1.47/containers/json", query: "all=1",
			want: []string{"GET /v1.47/containers/json?all=1 HTTP/1.1", "User-Agent: docker/27", "X-Registry-Auth: e30="}},
		{name: "a write without a body says so", method: "POST", path: "/containers/abc/start",
			want: []string{"POST /containers/abc/start HTTP/1.1", "Content-Length: 0", "User-Agent: docker/27", "X-Registry-Auth: e30="}},
		{name: "a judged body's length", method: "POST", path: "/containers/create", length: 42,
			want: []string{"POST /containers/create HTTP/1.1", "Content-Length: 42", "User-Agent: docker/27", "X-Registry-Auth: e30="}},
		{name: "a path is escaped as the judged one", method: "GET", path: "/images/a b/json",
			want: []string{"GET /images/a%20b/json HTTP/1.1", "User-Agent: docker/27", "X-Registry-Auth: e30="}},
		{name: "a query that would split the line", method: "GET", path: "/_ping", query: "a=1 HTTP/1.1\r\nX-Evil: 1", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := &http.Request{Method: c.method, URL: &url.URL{Path: c.path, RawQuery: c.query},
				Host: "docker", Header: header, ContentLength: c.length}
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			err := writeRequestHead(w, out)
			w.Flush()
			if c.wantErr {
				var se *statusError
				if !errors.As(err, &se) || se.status != http.StatusBadRequest || buf.Len() != 0 {
					t.Fatalf("wrote %q (err %v), want nothing and the client's error", buf.String(), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			head, ok := strings.CutSuffix(buf.String(), "\r\n\r\n")
			if !ok {
				t.Fatalf("head %q does not end with an empty line", buf.String())
			}
			lines := strings.Split(head, "\r\n")
			if lines[1] != "Host: docker" {
				t.Errorf("second line %q, want the client's Host", lines[1])
			}
			got := append([]string{lines[0]}, lines[2:]...)
			slices.Sort(got[1:])
			if !slices.Equal(got, c.want) {
				t.Errorf("head:\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}
