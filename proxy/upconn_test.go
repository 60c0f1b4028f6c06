package proxy

import "testing"

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
