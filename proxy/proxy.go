// Package proxy serves the filtered Docker API over HTTP/1.1: it asks the
// current policy about every request and forwards the allowed ones to the
// engine's socket, streaming responses as they come and splicing hijacked
// connections (attach, exec) in both directions. Denied requests get a JSON
// error the docker CLI prints; nothing of them reaches the engine.
package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
	peerid "github.com/docker-socket-filter/docker-socket-filter/identity"
	"github.com/docker-socket-filter/docker-socket-filter/internal/h1"
	"github.com/docker-socket-filter/docker-socket-filter/internal/logfmt"
)

// Config configures a Proxy.
type Config struct {
	// Upstream is the engine's unix socket path.
	Upstream string
	Log      *slog.Logger
	// MaxIdleUpstream bounds the idle upstream connections kept for reuse.
	MaxIdleUpstream int
	// MaxBody bounds a request body that is read whole to be judged.
	MaxBody int64
	// MaxBodyMemory bounds the judged bodies held at once, all callers
	// together; a quarter of it is kept for the callers the policy
	// lists.
	MaxBodyMemory int64
	// BodyTimeout is how long any request body may take to arrive
	// before it must keep up 64 KiB/s.
	BodyTimeout time.Duration
	// EngineTimeout bounds the wait for the engine's answer head to a
	// request that is not a stream, and for each lookup.
	EngineTimeout time.Duration
	// Identity names the containers peers run in; nil names none, and
	// takes every peer for a host process.
	Identity *peerid.Resolver
	// Learn, when set, is given every decision made in learn mode,
	// with the request as judged (its body, when read, and the facts
	// looked up).
	Learn func(filter.Caller, *filter.Request, *filter.Decision)
}

// DefaultMaxBody is the default cap on a judged request body.
const DefaultMaxBody = 4 << 20

// Proxy is an http.Handler that filters and forwards Docker API requests.
type Proxy struct {
	upstream string
	maxBody  int64
	log      *slog.Logger
	// flatLog is the log's handler if it is the daemon's, which writes
	// audit records without an slog.Record built.
	flatLog   *logfmt.Handler
	transport *http.Transport
	pool      *upPool
	engine    *Engine
	identity  *peerid.Resolver
	learn     func(filter.Caller, *filter.Request, *filter.Decision)
	dialer    net.Dialer
	policy    atomic.Pointer[filter.Policy]
	bufs      sync.Pool
	// listWriters gather a viewed list's entries into copy-buffer
	// sized writes.
	listWriters sync.Pool

	bodyTimeout   time.Duration
	engineTimeout time.Duration
	budget        bodyBudget
	reads         bodyReads
	fresh         freshConns
	conns         connInfos
	// inflight counts the requests being served, so that shutdown
	// waits for each one's audit record.
	inflight sync.WaitGroup
	// cut ends the requests still running when shutdown gives up on
	// them: their handlers then return and write their records.
	cut    context.Context
	cutAll context.CancelFunc

	// watches is cancelled at shutdown to end open-ended streams and
	// hijacked sessions, which would otherwise hold shutdown forever.
	watches     context.Context
	stopWatches context.CancelFunc
	// streams are the open-ended streams relayed apart from their
	// handlers.
	streams streamSet

	openConns atomic.Int64
	allowed   atomic.Uint64
	denied    atomic.Uint64
}

// New returns a Proxy that decides with policy until SetPolicy replaces it.
func New(cfg Config, policy *filter.Policy) *Proxy {
	if cfg.MaxIdleUpstream <= 0 {
		cfg.MaxIdleUpstream = 256
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxBodyMemory <= 0 {
		cfg.MaxBodyMemory = DefaultMaxBodyMemory
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
	}
	if cfg.EngineTimeout <= 0 {
		cfg.EngineTimeout = DefaultEngineTimeout
	}
	p := &Proxy{upstream: cfg.Upstream, maxBody: cfg.MaxBody, log: cfg.Log,
		bodyTimeout: cfg.BodyTimeout, engineTimeout: cfg.EngineTimeout, identity: cfg.Identity, learn: cfg.Learn}
	p.budget.max = cfg.MaxBodyMemory
	p.reads.rcs = make(map[*http.ResponseController]struct{})
	p.fresh.conns = make(map[net.Conn]struct{})
	p.conns.m = make(map[net.Conn]*connInfo)
	p.cut, p.cutAll = context.WithCancel(context.Background())
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.flatLog, _ = p.log.Handler().(*logfmt.Handler)
	p.transport = UnixTransport(p.upstream, cfg.MaxIdleUpstream)
	p.pool = newUpPool(p.upstream, cfg.MaxIdleUpstream)
	p.engine = NewEngine(p.transport, p.upstream, p.engineTimeout)
	p.bufs.New = func() any { b := make([]byte, copyBuffer); return &b }
	p.listWriters.New = func() any { return bufio.NewWriterSize(nil, copyBuffer) }
	p.watches, p.stopWatches = context.WithCancel(context.Background())
	p.policy.Store(policy)
	return p
}

// UnixTransport returns an HTTP/1.1 transport whose every connection goes
// to the unix socket at path, keeping up to maxIdle idle ones.
func UnixTransport(path string, maxIdle int) *http.Transport {
	var dialer net.Dialer
	t := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", path)
		},
		MaxIdleConns:        maxIdle,
		MaxIdleConnsPerHost: maxIdle,
		IdleConnTimeout:     90 * time.Second,
		// The engine's bytes pass through as they are: no transparent
		// gzip, no HTTP/2.
		DisableCompression: true,
		ForceAttemptHTTP2:  false,
		Protocols:          new(http.Protocols),
	}
	t.Protocols.SetHTTP1(true)
	return t
}

// SetPolicy replaces the policy for every request from now on, on open
// connections too.
func (p *Proxy) SetPolicy(policy *filter.Policy) { p.policy.Store(policy) }

// Policy returns the policy in force.
func (p *Proxy) Policy() *filter.Policy { return p.policy.Load() }

// Stats are live counters for status reports.
type Stats struct {
	OpenConns int64
	Allowed   uint64
	Denied    uint64
}

// Stats returns the current counters.
func (p *Proxy) Stats() Stats {
	// A stream's connection is the proxy's own once taken over from the
	// server, which counts it closed then.
	return Stats{OpenConns: p.openConns.Load() + int64(p.streams.len()), Allowed: p.allowed.Load(), Denied: p.denied.Load()}
}

// StopWatches begins the shutdown: it ends open-ended streams and
// hijacked sessions, cuts the bodies being read (nothing of those
// requests reached the engine), and closes the connections that have
// sent no request. Called after the listeners are closed.
func (p *Proxy) StopWatches() {
	p.stopWatches()
	p.streams.end()
	p.reads.end()
	p.fresh.end()
}

// CutRequests ends the requests still running, when shutdown stops
// waiting for them; each still writes its audit record.
func (p *Proxy) CutRequests() {
	p.cutAll()
	p.pool.cutAll()
}

// WaitRequests waits, up to timeout, until every request has been served
// and recorded; it reports whether they all were.
func (p *Proxy) WaitRequests(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { p.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// CloseIdleUpstream closes pooled upstream connections.
func (p *Proxy) CloseIdleUpstream() {
	p.transport.CloseIdleConnections()
	p.pool.closeIdle()
}

type connKey struct{}

// connInfos finds a client connection's connInfo when it closes, to give
// its upstream connection back.
type connInfos struct {
	mu sync.Mutex
	m  map[net.Conn]*connInfo
}

func (ci *connInfos) add(c net.Conn, info *connInfo) {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	ci.m[c] = info
}

func (ci *connInfos) remove(c net.Conn) *connInfo {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	info := ci.m[c]
	delete(ci.m, c)
	return info
}

// NewServer returns the HTTP/1.1 server for the proxy. Each connection
// carries its peer's credentials from the listener; a connection without
// them is denied everything.
func (p *Proxy) NewServer() *h1.Server {
	return &h1.Server{
		Handler: p,
		// The slow part of a request is its header; streams and hijacked
		// sessions must never time out, so no read or write timeout.
		ReadHeaderTimeout: 30 * time.Second,
		// Between requests only: a quiet stream is not idle.
		IdleTimeout: 2 * time.Minute,
		// Accept failures (out of descriptors) must be seen.
		ErrorLog:    p.log,
		BaseContext: func(l net.Listener) context.Context { return socketContext(context.Background(), l) },
		ConnContext: p.connContext,
		ConnState: func(c net.Conn, s http.ConnState) {
			p.fresh.track(c, s)
			switch s {
			case http.StateNew:
				p.openConns.Add(1)
			case http.StateClosed, http.StateHijacked:
				p.openConns.Add(-1)
				if info := p.conns.remove(c); info != nil && info.up != nil {
					p.pool.put(info.up, true)
					info.up = nil
				}
			}
		},
	}
}

// ServeHTTP decides the request and forwards it if allowed.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.inflight.Add(1)
	defer p.inflight.Done()
	start := time.Now()
	info, _ := r.Context().Value(connKey{}).(*connInfo)
	if info == nil {
		info = &connInfo{}
	}
	caller := p.caller(info)
	policy := p.policy.Load()
	req := filter.Request{
		Method: r.Method, EscapedPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		ContentTypes: r.Header["Content-Type"], ContentLength: r.ContentLength, BodyLimit: p.maxBody,
		Upgrade: r.Header["Upgrade"],
	}
	// Not under the request's context: that ends when a client
	// half-closes right after an attach request, which must still be
	// judged and served. Shutdown ends it.
	bodyDone := p.reads.watchBody(w, r, p.bodyTimeout)
	var held int64
	defer func() { p.budget.give(held) }()
	d := p.engine.SettleCached(p.watches, policy, caller, &info.cache, &req, func(d *filter.Decision) ([]byte, error) {
		held = p.maxBody + 1
		if r.ContentLength >= 0 && r.ContentLength < held {
			held = r.ContentLength
		}
		if !p.budget.take(held, d.Listed()) {
			held = 0
			return nil, &statusError{http.StatusServiceUnavailable, "too many request bodies are being judged at once; try again later"}
		}
		if p.log.Enabled(r.Context(), slog.LevelDebug) {
			p.log.LogAttrs(r.Context(), slog.LevelDebug, "reading body", slog.String("operation", d.Operation()), slog.Int64("held", held))
		}
		return io.ReadAll(io.LimitReader(r.Body, p.maxBody+1))
	})
	defer bodyDone()
	if p.learn != nil && d.Learning() {
		p.learn(caller, &req, &d)
	}
	var status int
	var err error
	if d.Allowed() {
		p.allowed.Add(1)
		status, err = p.forward(w, r, &d, req.Body, info, start)
		if errors.Is(err, errDetached) {
			return
		}
	} else {
		p.denied.Add(1)
		status = d.Status
		p.deny(w, r, &caller, &d)
	}
	p.audit(r, &caller, &d, status, time.Since(start), err)
	if errors.Is(err, errUpstreamCut) {
		// The client must not take a cut body for a whole one: abort
		// the connection rather than end the response cleanly.
		panic(http.ErrAbortHandler)
	}
}

// errUpstreamCut marks a response body that ended with an error from the
// engine's side, after the status line was sent.
var errUpstreamCut = errors.New("engine response cut short")

func (p *Proxy) audit(r *http.Request, c *filter.Caller, d *filter.Decision, status int, took time.Duration, err error) {
	level, decision := slog.LevelInfo, "allow"
	if !d.Allowed() {
		level, decision = slog.LevelWarn, "deny"
	} else if len(d.WouldDeny) > 0 {
		level = slog.LevelWarn
	}
	if !p.log.Enabled(r.Context(), level) {
		return
	}
	// Room for every attribute on the stack: the record costs no slice
	// of its own.
	var room [16]slog.Attr
	attrs := append(auditAttrs(room[:0], r, c, d, decision),
		slog.Int("status", status),
		slog.Duration("duration", took))
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	p.record(level, "request", attrs...)
}

// record writes an audit record straight to the log's handler: through
// the logger, every record would first look up the source line it was
// logged from, which no record shows. The daemon's handler takes the
// attributes themselves, with no slog.Record built.
func (p *Proxy) record(level slog.Level, msg string, attrs ...slog.Attr) {
	if p.flatLog != nil {
		p.flatLog.WriteFlat(time.Now(), level, msg, attrs)
		return
	}
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(attrs...)
	p.log.Handler().Handle(context.Background(), r)
}

// auditForward records a request as it is forwarded, before the engine
// acts on it: at info for streams and tunnels, which may run for days or
// be cut with the daemon while the engine has them; at debug for the
// others, whose "request" record follows at once.
func (p *Proxy) auditForward(r *http.Request, d *filter.Decision) {
	level := slog.LevelInfo
	if d.Route.Conn == filter.ConnPlain {
		level = slog.LevelDebug
	}
	if !p.log.Enabled(r.Context(), level) {
		return
	}
	info, _ := r.Context().Value(connKey{}).(*connInfo)
	c := p.caller(info)
	var room [13]slog.Attr
	p.record(level, "forward", auditAttrs(room[:0], r, &c, d, "allow")...)
}

func auditAttrs(dst []slog.Attr, r *http.Request, c *filter.Caller, d *filter.Decision, decision string) []slog.Attr {
	dst = append(dst,
		slog.Uint64("uid", uint64(c.UID)),
		slog.Uint64("gid", uint64(c.GID)),
		slog.Int64("pid", int64(c.PID)),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("operation", d.Operation()),
		slog.String("profile", d.ProfileName()),
		slog.String("decision", decision),
		slog.String("step", string(d.Step)),
		slog.String("reason", d.Reason),
	)
	if len(d.WouldDeny) > 0 {
		dst = append(dst, slog.String("would-deny", d.WouldDenyText()))
	}
	return callerAttrs(dst, c)
}

// deny answers with the Docker-style JSON error the CLI prints as
// "Error response from daemon: ...".
func (p *Proxy) deny(w http.ResponseWriter, r *http.Request, c *filter.Caller, d *filter.Decision) {
	who := fmt.Sprintf("uid=%d gid=%d", c.UID, c.GID)
	if c.Container != nil {
		who += " container=" + c.Container.Name
	}
	msg := fmt.Sprintf("docker-socket-filter: %s %s (%s) denied for %s: %s",
		r.Method, r.URL.Path, d.Operation(), who, d.Reason)
	if r.ContentLength != 0 {
		// A refused body is not read: the connection cannot carry the
		// next request, and waiting for the rest of a stalled body
		// would hold it.
		w.Header().Set("Connection", "close")
	}
	if d.Profile == nil {
		// A peer that may do nothing gets no connection to hold open.
		w.Header().Set("Connection", "close")
	}
	writeJSONError(w, d.Status, msg)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	body, err := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	if err != nil {
		body = []byte(`{"message":"docker-socket-filter: internal error"}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
	// Out at once: at shutdown the connection may be closed right after.
	http.NewResponseController(w).Flush()
}

// forward sends an allowed request to the engine and relays the answer.
// A judged body is sent as the bytes that were judged.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, d *filter.Decision, judged []byte, info *connInfo, start time.Time) (int, error) {
	if d.Route.Conn == filter.ConnTunnel {
		return p.forwardHijack(w, r, d)
	}
	if d.Route.Body.Judged() || r.ContentLength == 0 {
		return p.forwardHeld(w, r, d, judged, info, start)
	}
	return p.forwardStreamed(w, r, d)
}

// forwardStreamed forwards a request whose body streams from the client
// (an image load, a build context) through the transport, which sends
// the body while it reads the answer: the engine may answer, or refuse,
// before the body has all arrived.
func (p *Proxy) forwardStreamed(w http.ResponseWriter, r *http.Request, d *filter.Decision) (int, error) {
	// The request's context ends when the client half-closes after its
	// request (printf ... | socat), not only when it goes away. A bounded
	// answer is fetched regardless; a client that is gone shows as a
	// failed write. Open-ended streams do follow the request's context,
	// since a quiet one would otherwise outlive its client, and end at
	// shutdown.
	ctx, cancel := context.WithCancel(p.cut)
	defer cancel()
	var headTimer *time.Timer
	if d.Route.Conn == filter.ConnWatch {
		ctx, cancel = context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(p.watches, cancel)()
		p.auditForward(r, d)
	} else {
		p.auditForward(r, d)
	}
	if wait := p.engineWait(d); wait > 0 && d.Route.Conn == filter.ConnPlain {
		// Only the answer's head is waited for: its body (an export, a
		// pull's progress) may take as long as it takes.
		headTimer = time.AfterFunc(wait, cancel)
	}
	out, err := p.outbound(ctx, r, d, false)
	if err != nil {
		return p.badGateway(w, err)
	}
	body := &clientBody{ReadCloser: r.Body}
	out.Body = body
	out.ContentLength = r.ContentLength
	resp, err := p.transport.RoundTrip(out)
	if headTimer != nil && !headTimer.Stop() {
		if err == nil {
			resp.Body.Close()
		}
		writeJSONError(w, http.StatusGatewayTimeout, fmt.Sprintf("docker-socket-filter: the Docker engine did not answer within %s (it may have acted on the request)", p.engineWait(d)))
		return http.StatusGatewayTimeout, errors.New("engine answer timed out")
	}
	if err != nil {
		if p.cut.Err() != nil {
			writeJSONError(w, http.StatusServiceUnavailable, "docker-socket-filter: shutting down: the request was cut")
			return http.StatusServiceUnavailable, fmt.Errorf("cut at shutdown: %w", err)
		}
		var se *statusError
		if errors.As(body.err, &se) {
			w.Header().Set("Connection", "close")
			writeJSONError(w, se.status, "docker-socket-filter: "+se.msg)
			return se.status, body.err
		}
		if ctx.Err() != nil {
			// Said explicitly: left unwritten, the answer would be an
			// empty 200 to a client that only half-closed.
			writeJSONError(w, http.StatusServiceUnavailable, "docker-socket-filter: request ended: the client closed its side before the answer")
			return http.StatusServiceUnavailable, fmt.Errorf("client gone: %w", err)
		}
		if body.err != nil {
			// The client's framing broke, not the engine.
			w.Header().Set("Connection", "close")
			writeJSONError(w, http.StatusBadRequest, "docker-socket-filter: cannot read request body: "+body.err.Error())
			return http.StatusBadRequest, body.err
		}
		return p.badGateway(w, err)
	}
	defer resp.Body.Close()
	return p.relay(w, resp, d, nil)
}

// relay passes the engine's answer on, through the profile's view if it
// has one for the answer.
// ready, if not nil, waits until the engine has sent more, so that a quiet
// stream holds no copy buffer.
func (p *Proxy) relay(w http.ResponseWriter, resp *http.Response, d *filter.Decision, ready func()) (int, error) {
	// The view comes from the policy that decided, even if a reload
	// replaced it meanwhile.
	if view := &d.Profile.View; resp.StatusCode == http.StatusOK && view.Rewrites(d.Route.Answer) {
		return p.relayViewed(w, resp, view, d)
	}
	useHeader(w, resp.Header)
	if resp.Request != nil && resp.Request.Method == http.MethodHead || !bodyAllowed(resp.StatusCode) {
		// No body follows such a head, whatever length it gives: a
		// stream's wait for one would hold the client.
		w.WriteHeader(resp.StatusCode)
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if resp.ContentLength < 0 && !progressive(d) {
		return p.relayDocument(w, resp)
	}
	w.WriteHeader(resp.StatusCode)
	return resp.StatusCode, p.relayBody(w, resp, progressive(d), ready)
}

// relayDocument relays a document the engine sent without its length (a
// list, an inspect). One that fits the copy buffer goes out whole, with
// its length, in one write; a longer one goes out as the buffer fills.
// An answer cut before the first buffer was full is the engine's failure,
// answered as such, not a short document.
func (p *Proxy) relayDocument(w http.ResponseWriter, resp *http.Response) (int, error) {
	bp := p.bufs.Get().(*[]byte)
	buf := *bp
	n, err := fill(resp.Body, buf)
	switch {
	case err == io.EOF:
		defer p.bufs.Put(bp)
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.WriteHeader(resp.StatusCode)
		if _, err := w.Write(buf[:n]); err != nil {
			return resp.StatusCode, fmt.Errorf("write to client: %w", err)
		}
		return resp.StatusCode, nil
	case err != nil:
		p.bufs.Put(bp)
		// The engine's header fields were for its answer, not this one.
		clear(w.Header())
		if p.cut.Err() != nil {
			writeJSONError(w, http.StatusServiceUnavailable, "docker-socket-filter: shutting down: the request was cut")
			return http.StatusServiceUnavailable, fmt.Errorf("cut at shutdown: %w", err)
		}
		err = fmt.Errorf("the Docker engine's answer was cut after %d bytes: %w", n, err)
		writeJSONError(w, http.StatusBadGateway, "docker-socket-filter: "+err.Error())
		return http.StatusBadGateway, err
	}
	w.WriteHeader(resp.StatusCode)
	_, err = w.Write(buf[:n])
	p.bufs.Put(bp)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("write to client: %w", err)
	}
	return resp.StatusCode, p.relayBody(w, resp, false, nil)
}

// progressive reports whether an answer of unknown length is read as it
// comes: a stream, or a write's progress (a pull, a build, a load). A
// read's answer that is not a stream is a document (a list, an inspect,
// an export), which the client reads to its end: it goes out as the
// server's buffer fills, not at every read, which would cost a write per
// chunk of the engine's.
func progressive(d *filter.Decision) bool {
	return d.Route.Conn != filter.ConnPlain || d.Route.IsWrite()
}

// forwardHeld forwards a request without a body, or with the body that
// was judged, on the upstream connection the client connection holds (an
// open-ended stream gets one of its own), from the client's goroutine:
// no hand-off to other goroutines on the way.
func (p *Proxy) forwardHeld(w http.ResponseWriter, r *http.Request, d *filter.Decision, judged []byte, info *connInfo, start time.Time) (int, error) {
	p.auditForward(r, d)
	watch := d.Route.Conn == filter.ConnWatch
	out := p.outboundHeld(r, d)
	if d.Route.Body.Judged() {
		out.ContentLength = int64(len(judged))
		if len(judged) > 0 {
			out.Body = io.NopCloser(bytes.NewReader(judged))
		}
	}
	if watch && r.Method != http.MethodHead && r.ProtoAtLeast(1, 1) {
		return p.forwardDetached(w, r, d, out, start)
	}
	wait := time.Duration(0)
	if !watch {
		wait = p.engineWait(d)
	}
	var u *upConn
	var resp *http.Response
	var err error
	for attempt := 0; ; attempt++ {
		switch {
		case watch:
			// A stream may stay open for days: a connection of its own,
			// with a small buffer.
			u, err = p.pool.dial(p.cut, streamReadBuffer)
		case info.up != nil && attempt == 0:
			u, info.up = info.up, nil
		default:
			u, err = p.pool.get(p.cut, 0)
		}
		if err != nil {
			break
		}
		resp, err = p.pool.exchange(u, out, wait)
		if err == nil {
			break
		}
		var stale *staleError
		retry := u.reused && errors.As(err, &stale) && stale.retriable(out.Method) && !errors.Is(err, os.ErrDeadlineExceeded) && attempt == 0 && p.cut.Err() == nil
		p.pool.put(u, false)
		u = nil
		if !retry {
			break
		}
		if len(judged) > 0 {
			out.Body = io.NopCloser(bytes.NewReader(judged))
		}
	}
	if err != nil {
		switch {
		case p.cut.Err() != nil:
			writeJSONError(w, http.StatusServiceUnavailable, "docker-socket-filter: shutting down: the request was cut")
			return http.StatusServiceUnavailable, fmt.Errorf("cut at shutdown: %w", err)
		case errors.Is(err, os.ErrDeadlineExceeded):
			writeJSONError(w, http.StatusGatewayTimeout, fmt.Sprintf("docker-socket-filter: the Docker engine did not answer within %s (it may have acted on the request)", wait))
			return http.StatusGatewayTimeout, errors.New("engine answer timed out")
		}
		var unsendable *statusError
		if errors.As(err, &unsendable) {
			writeJSONError(w, unsendable.status, "docker-socket-filter: "+unsendable.msg)
			return unsendable.status, err
		}
		return p.badGateway(w, err)
	}
	u.body = eofBody{ReadCloser: resp.Body}
	resp.Body = &u.body
	if watch {
		// A quiet stream would otherwise outlive its client; shutdown
		// ends it too.
		stop := context.AfterFunc(r.Context(), func() { u.c.Close() })
		defer stop()
		defer context.AfterFunc(p.watches, func() { u.c.Close() })()
		defer p.pool.put(u, false)
		return p.relay(w, resp, d, func() { u.br.Peek(1) })
	}
	status, err := p.relay(w, resp, d, nil)
	// Bytes the engine sent past its answer belong to no request: such a
	// connection is never used again, held or pooled.
	reusable := u.body.eof && !resp.Close && resp.StatusCode != http.StatusSwitchingProtocols && u.br.Buffered() == 0
	if reusable && info.held {
		u.reused = true
		info.up = u
	} else {
		p.pool.put(u, reusable)
	}
	return status, err
}

// outboundHeld is the request sent upstream on a held connection: the
// canonical path that was judged, the client's query, and its header as
// the client's request holds it, not copied (writeRequestHead leaves out
// what must not go upstream). The body, if any, was read already.
func (p *Proxy) outboundHeld(r *http.Request, d *filter.Decision) *http.Request {
	out := &http.Request{
		Method: r.Method,
		URL:    &url.URL{Path: d.Path, RawQuery: d.RawQuery},
		Host:   r.Host,
		Header: r.Header,
	}
	if out.Host == "" {
		out.Host = "docker"
	}
	return out
}

// engineWait is how long a request that is not a stream may wait for the
// engine's answer head: the engine timeout, plus the time the request
// asks the engine to wait (a stop's t); 0 for no bound.
func (p *Proxy) engineWait(d *filter.Decision) time.Duration {
	if d.Wait < 0 {
		return 0
	}
	return p.engineTimeout + d.Wait
}

// clientBody remembers why reading the client's body failed, so that a
// malformed body is answered as the client's error.
type clientBody struct {
	io.ReadCloser
	err error
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// outbound builds the request sent upstream: the canonical path that was
// judged, the client's query, and the client's end-to-end headers.
func (p *Proxy) outbound(ctx context.Context, r *http.Request, d *filter.Decision, upgrade bool) (*http.Request, error) {
	out, err := http.NewRequestWithContext(ctx, r.Method, "http://docker", nil)
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	out.URL.Path = d.Path
	out.URL.RawQuery = d.RawQuery
	out.Host = r.Host
	if out.Host == "" {
		out.Host = "docker"
	}
	copyHeader(out.Header, r.Header)
	out.Header.Del("Accept-Encoding")
	if upgrade {
		if proto := r.Header.Get("Upgrade"); proto != "" && headerHasToken(r.Header, "Connection", "upgrade") {
			out.Header.Set("Connection", "Upgrade")
			out.Header.Set("Upgrade", proto)
		}
	}
	return out, nil
}

// relayBody copies the engine's response body to the client. A
// progressive body of unknown length is flushed at every read, so that
// events, logs and progress arrive as the engine writes them.
//
// ready, if not nil, waits for the engine's next bytes (its errors are
// the next read's), so that a quiet stream holds no buffer.
func (p *Proxy) relayBody(w http.ResponseWriter, resp *http.Response, progressive bool, ready func()) error {
	var bp *[]byte
	defer func() {
		if bp != nil {
			p.bufs.Put(bp)
		}
	}()
	rc := http.NewResponseController(w)
	stream := progressive && resp.ContentLength < 0
	if stream {
		if err := rc.Flush(); err != nil {
			return fmt.Errorf("flush to client: %w", err)
		}
	}
	for {
		if ready != nil {
			if bp != nil {
				p.bufs.Put(bp)
				bp = nil
			}
			ready()
		}
		if bp == nil {
			bp = p.bufs.Get().(*[]byte)
		}
		var n int
		var rerr error
		if stream {
			n, rerr = resp.Body.Read(*bp)
		} else {
			n, rerr = fill(resp.Body, *bp)
		}
		buf := *bp
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return fmt.Errorf("write to client: %w", err)
			}
			if stream {
				if err := rc.Flush(); err != nil {
					return fmt.Errorf("flush to client: %w", err)
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("%w: %w", errUpstreamCut, rerr)
		}
	}
}

// fill reads into buf until it is full or the reader fails: a document
// goes out in writes of the whole buffer, not of the engine's chunks. Its
// error is the reader's, io.EOF included.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (p *Proxy) badGateway(w http.ResponseWriter, err error) (int, error) {
	writeJSONError(w, http.StatusBadGateway,
		"docker-socket-filter: "+describeUpstream(p.upstream, err))
	return http.StatusBadGateway, err
}

func unwrapOpError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// shareHeader puts src's end-to-end headers in dst, sharing their values:
// src is not used after.
func shareHeader(dst, src http.Header) {
	dropHopHeaders(src)
	maps.Copy(dst, src)
}

// useHeader makes the engine's header, its hop-by-hop fields dropped, the
// answer's: taken over whole where the server lets it (h1), which saves
// a copy per answer. h is not used after.
func useHeader(w http.ResponseWriter, h http.Header) {
	if u, ok := w.(interface{ UseHeader(http.Header) }); ok {
		dropHopHeaders(h)
		u.UseHeader(h)
		return
	}
	shareHeader(w.Header(), h)
}

// dropHopHeaders deletes from h its hop-by-hop headers, and those its
// Connection header names.
func dropHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			delete(h, http.CanonicalHeaderKey(strings.TrimSpace(f)))
		}
	}
	for k := range h {
		if hopByHop(k) {
			delete(h, k)
		}
	}
}

// hopByHop reports the headers meaningful for one connection only (RFC
// 9110, 7.6.1).
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// copyHeader copies end-to-end headers: hop-by-hop ones, and any the
// Connection header names, stay behind.
func copyHeader(dst, src http.Header) {
	for k, vv := range src {
		if isHopHeader(k, src) {
			continue
		}
		dst[k] = append(dst[k][:0:0], vv...)
	}
}

// isHopHeader reports whether k is hop-by-hop in h: one of those always
// (hopByHop), or one that h's Connection header names.
func isHopHeader(k string, h http.Header) bool {
	if hopByHop(k) {
		return true
	}
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if http.CanonicalHeaderKey(strings.TrimSpace(f)) == k {
				return true
			}
		}
	}
	return false
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}
