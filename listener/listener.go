// Package listener serves the filter's listening unix sockets, those it is
// handed already listening or the one it creates, and tags each accepted
// connection with the peer credentials the kernel recorded when the peer
// connected and, with Config.Procs, where the peer's process runs, found
// out at accept.
package listener

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/docker-socket-filter/docker-socket-filter/internal/peerproc"
	"golang.org/x/sys/unix"
)

// Config describes the socket to create when none is handed over, and how
// connections are admitted on every socket.
type Config struct {
	Path  string
	Mode  fs.FileMode
	Group *uint32 // gid of the created socket; nil keeps the daemon's group

	// Log receives connections refused because their credentials could
	// not be read or their uid holds too many. Nil discards them.
	Log *slog.Logger

	// MaxConnsPerUID bounds the connections one uid may hold open at
	// once; beyond it new ones are answered 429 and closed. 0 means no
	// bound.
	MaxConnsPerUID int

	// MaxConns bounds the connections all the sockets hold open
	// together, so that no set of callers, whatever uids they take, can
	// use up the daemon's descriptors; beyond it new ones are answered
	// 503 and closed. 0 means no bound.
	MaxConns int
	// Reserve is the part of MaxConns that only peers Reserved admits
	// may use: the admin's own callers are served when others have
	// taken the rest. It is asked only once the rest is taken.
	Reserve  int
	Reserved func(Arrival) bool

	// Procs, when set, finds out at accept where each peer's process
	// runs (Creds.Proc), before CountAs is asked.
	Procs *peerproc.Reader

	// CountAs is the key a connection counts under for
	// MaxConnsPerUID: by default its uid; the daemon adds where the peer
	// runs, so that root in every container is not one count with the
	// host's root.
	CountAs func(Arrival) string

	// Admission, when set, is shared with the listeners of other Open
	// calls, so that the bounds count their connections together; nil
	// makes one for this call.
	Admission *Admission
}

// Arrival is a connection being admitted: its peer, and the socket it
// came in on.
type Arrival struct {
	Conn  *net.UnixConn
	Creds Creds
	// Name and Path are the socket's (Listener.Name, its address).
	Name, Path string
}

// Open serves the listening sockets in files, in order, as handed over by
// systemd socket activation; with none, it creates one at cfg.Path. Each
// file's name becomes its listener's Name. Open closes the files, whether
// it succeeds or not: the listeners hold descriptors of their own.
func Open(files []*os.File, cfg Config) ([]*Listener, error) {
	if len(files) == 0 {
		l, err := create(cfg, cfg.admission())
		if err != nil {
			return nil, err
		}
		return []*Listener{l}, nil
	}
	var ls []*Listener
	adm := cfg.admission()
	for i, f := range files {
		l, err := fromFile(f, cfg, adm)
		if err != nil {
			for _, o := range ls {
				o.Close()
			}
			for _, rest := range files[i+1:] {
				rest.Close()
			}
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func (cfg Config) admission() *Admission {
	if cfg.Admission != nil {
		return cfg.Admission
	}
	return NewAdmission(cfg)
}

func fromFile(f *os.File, cfg Config, adm *Admission) (*Listener, error) {
	defer f.Close()
	nl, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("socket handed over (%s): %w", f.Name(), err)
	}
	ul, ok := nl.(*net.UnixListener)
	if !ok {
		nl.Close()
		return nil, fmt.Errorf("socket handed over (%s) is %s, not a unix stream socket: peer credentials need one", f.Name(), nl.Addr().Network())
	}
	// Whoever handed it over owns the path; closing our copy must not
	// unlink it.
	ul.SetUnlinkOnClose(false)
	l := newListener(ul, cfg, adm)
	l.name = f.Name()
	return l, nil
}

// create makes the socket at cfg.Path. It refuses a path another server
// answers on and any path that is not a socket; a stale socket file, left by
// a daemon that died, is replaced.
func create(cfg Config, adm *Admission) (*Listener, error) {
	gid := -1
	if cfg.Group != nil {
		gid = int(*cfg.Group)
	}
	if err := clearStale(cfg.Path); err != nil {
		return nil, err
	}
	// The socket must never exist with looser permissions than asked,
	// even for an instant: create it owner-only, then widen.
	old := unix.Umask(0o177)
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: cfg.Path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Path, err)
	}
	if err := setOwnership(cfg.Path, gid, cfg.Mode); err != nil {
		ul.Close()
		return nil, err
	}
	ul.SetUnlinkOnClose(true)
	return newListener(ul, cfg, adm), nil
}

// setOwnership applies group and mode to the socket file without
// following a symlink: if the directory lets someone swap the path for a
// link between bind and chmod, the link is refused instead of its target
// re-moded. The O_PATH descriptor pins the inode that was checked.
func setOwnership(path string, gid int, mode fs.FileMode) error {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fmt.Errorf("%s was replaced by something that is not a socket", path)
	}
	pinned := fmt.Sprintf("/proc/self/fd/%d", fd)
	if gid >= 0 {
		if err := os.Chown(pinned, -1, gid); err != nil {
			return fmt.Errorf("set group of %s: %w", path, err)
		}
	}
	if err := os.Chmod(pinned, mode); err != nil {
		return fmt.Errorf("set mode of %s: %w", path, err)
	}
	return nil
}

func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket: refusing to replace it", path)
	}
	c, err := net.Dial("unix", path)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s: another server is already listening there", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: cannot tell whether it is in use: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}

// Listener accepts connections and reads each one's peer credentials.
type Listener struct {
	ul    *net.UnixListener
	name  string
	log   *slog.Logger
	adm   *Admission
	procs *peerproc.Reader
}

func newListener(ul *net.UnixListener, cfg Config, adm *Admission) *Listener {
	return &Listener{ul: ul, log: cfg.Log, adm: adm, procs: cfg.Procs}
}

// Accept waits for the next connection. Its credentials are read at once;
// a connection whose credentials cannot be read is closed, never served.
// One over a bound gets an HTTP answer that names the bound, so that the
// docker CLI prints it, and is closed.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.ul.AcceptUnix()
		if err != nil {
			return nil, err
		}
		creds, err := ReadCreds(c)
		if err != nil {
			c.Close()
			if l.log != nil {
				l.log.Error("connection refused: cannot read peer credentials", "err", err)
			}
			continue
		}
		if l.procs != nil {
			// Found out once here, for the per-uid count and the
			// caller's identity; a failure is the identity's to say.
			creds.Proc, _ = l.procs.Read(c, creds.PID)
		}
		key, refusal := l.adm.admit(Arrival{Conn: c, Creds: creds, Name: l.name, Path: l.ul.Addr().String()})
		if refusal != nil {
			l.adm.answer(c, refusal)
			if n := l.adm.refused(creds.UID, time.Now()); n > 0 && l.log != nil {
				l.log.Warn("connections refused: "+refusal.why, "uid", creds.UID, "pid", creds.PID, "refused", n)
			}
			continue
		}
		conn := &Conn{UnixConn: c, Creds: creds}
		conn.onClose = func() { l.adm.release(key) }
		return conn, nil
	}
}

// Close stops listening. A socket the daemon created is removed.
func (l *Listener) Close() error { return l.ul.Close() }

// Addr is the socket's address.
func (l *Listener) Addr() net.Addr { return l.ul.Addr() }

// Name is the name of the file the socket was handed over in (systemd's
// FileDescriptorName), or empty for the socket Open created.
func (l *Listener) Name() string { return l.name }

// Conn is an accepted connection with its peer's credentials.
type Conn struct {
	*net.UnixConn
	Creds Creds

	closeOnce sync.Once
	onClose   func()
}

// Close closes the connection and releases its place in its uid's count.
func (c *Conn) Close() error {
	err := c.UnixConn.Close()
	c.closeOnce.Do(func() {
		if c.onClose != nil {
			c.onClose()
		}
	})
	return err
}
