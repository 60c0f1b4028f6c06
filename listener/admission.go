package listener

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Admission counts the connections all of a daemon's sockets hold, per
// uid and in all, and refuses those over the bounds.
type Admission struct {
	maxUID, max, reserve int
	reserved             func(Arrival) bool

	mu    sync.Mutex
	total int
	// perUID counts connections by the key countAs gives: the uid, and
	// where the peer runs, so that root in a container and root on the
	// host are not one count.
	perUID  map[string]int
	countAs func(Arrival) string
	// refusals counts refused connections per uid since the last
	// warning about that uid, so that a flood makes one line per
	// refusalLogEvery, not one per connection.
	refusals map[uint32]*refusalCount

	// answering bounds the refused connections being answered at once:
	// past it a refused connection is closed unanswered, so a flood of
	// refusals costs no more than this many goroutines.
	answering chan struct{}
}

type refusalCount struct {
	n      int
	logged time.Time
}

// refusalLogEvery is the least time between two warnings about one uid's
// refused connections.
const refusalLogEvery = 10 * time.Second

// maxAnswering bounds the refusals answered at once.
const maxAnswering = 32

// NewAdmission makes the bounds of cfg, to share between the listeners of
// several Open calls (Config.Admission).
func NewAdmission(cfg Config) *Admission {
	return &Admission{
		maxUID: cfg.MaxConnsPerUID, max: cfg.MaxConns, reserve: cfg.Reserve, reserved: cfg.Reserved,
		perUID: make(map[string]int), refusals: make(map[uint32]*refusalCount), countAs: cfg.CountAs,
		answering: make(chan struct{}, maxAnswering),
	}
}

// refusal is why a connection is not admitted, and its HTTP answer.
type refusal struct {
	status int
	why    string
}

// admit counts a connection, or says why it is refused. Whether the peer
// may use the reserve is asked only once the rest is taken, and without
// the lock: finding it out may take a look at the peer's process and the
// engine.
func (a *Admission) admit(arr Arrival) (string, *refusal) {
	key := strconv.FormatUint(uint64(arr.Creds.UID), 10)
	if a.countAs != nil {
		key = a.countAs(arr)
	}
	limit := a.max - a.reserve
	full := func() *refusal {
		return &refusal{http.StatusServiceUnavailable, fmt.Sprintf("the filter holds all the %d connections it serves to such callers; try again later", limit)}
	}
	reserved := false
	for {
		a.mu.Lock()
		switch {
		case a.maxUID > 0 && a.perUID[key] >= a.maxUID:
			a.mu.Unlock()
			return key, &refusal{http.StatusTooManyRequests, fmt.Sprintf("too many open connections for uid %s (at most %d per uid)", key, a.maxUID)}
		case a.max <= 0 || a.total < limit || (reserved && a.total < a.max):
			a.total++
			a.perUID[key]++
			a.mu.Unlock()
			return key, nil
		case reserved || a.total >= a.max || a.reserved == nil:
			a.mu.Unlock()
			return key, full()
		}
		a.mu.Unlock()
		if !a.reserved(arr) {
			return key, full()
		}
		reserved = true
	}
}

func (a *Admission) release(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total--
	if a.perUID[key]--; a.perUID[key] <= 0 {
		delete(a.perUID, key)
	}
}

// refused notes a refused connection and tells how many to report now (0
// while the uid was reported recently).
func (a *Admission) refused(uid uint32, now time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	rc := a.refusals[uid]
	if rc == nil {
		rc = &refusalCount{}
		a.refusals[uid] = rc
	}
	rc.n++
	if now.Sub(rc.logged) < refusalLogEvery {
		return 0
	}
	n := rc.n
	rc.n, rc.logged = 0, now
	return n
}

// refusalLinger bounds how long a refused connection is kept to deliver
// its answer.
const refusalLinger = 2 * time.Second

// answer writes the refusal as an HTTP answer, lets the client finish
// sending its request (closing at once could reset the connection before
// the client reads the answer), and closes the connection.
func (a *Admission) answer(c *net.UnixConn, r *refusal) {
	select {
	case a.answering <- struct{}{}:
	default:
		c.Close()
		return
	}
	go func() {
		defer func() { <-a.answering }()
		defer c.Close()
		body, _ := json.Marshal(struct {
			Message string `json:"message"`
		}{"docker-socket-filter: connection refused: " + r.why})
		c.SetDeadline(time.Now().Add(refusalLinger))
		fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n",
			r.status, http.StatusText(r.status), len(body)+1, body)
		c.CloseWrite()
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
}
