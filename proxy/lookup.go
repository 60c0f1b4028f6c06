package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

// maxLookupAnswer bounds an inspect answer read to answer a lookup.
const maxLookupAnswer = 8 << 20

// Engine answers the lookups decisions ask for, from the engine's API and
// the host's filesystem. serve and explain use the same one.
type Engine struct {
	rt       http.RoundTripper
	upstream string
	// timeout bounds each lookup: an engine that does not answer an
	// inspect must not hold the request for ever.
	timeout time.Duration
}

// NewEngine returns an Engine that asks the engine through rt, whose
// requests go to the engine's socket (upstream, for messages) whatever
// their URL's host.
func NewEngine(rt http.RoundTripper, upstream string, timeout time.Duration) *Engine {
	return &Engine{rt: rt, upstream: upstream, timeout: timeout}
}

// maxRounds bounds how often one request's decision may ask for more:
// the body, then what the body names, then what that names (a volume's
// device), then the target.
const maxRounds = 6

// Settle decides a request, doing the I/O a pending decision asks for
// (reading the body with readBody, which returns at most the limit and
// one byte more; the lookups) and deciding again, until the decision
// allows or denies. serve and explain both decide through it.
func (e *Engine) Settle(ctx context.Context, policy *filter.Policy, c filter.Caller, req *filter.Request, readBody func(*filter.Decision) ([]byte, error)) filter.Decision {
	return e.SettleCached(ctx, policy, c, nil, req, readBody)
}

// SettleCached is Settle for a caller whose profile cache (nil for none)
// serves the requests of one connection.
func (e *Engine) SettleCached(ctx context.Context, policy *filter.Policy, c filter.Caller, cache *filter.ProfileCache, req *filter.Request, readBody func(*filter.Decision) ([]byte, error)) filter.Decision {
	d := policy.DecideCached(c, cache, req)
	for round := 0; d.Verdict == filter.Pending; round++ {
		if round == maxRounds {
			d.Verdict, d.Status, d.Reason = filter.Deny, http.StatusBadGateway, "the decision needed more lookups than the filter makes"
			return d
		}
		if d.NeedBody {
			body, err := readBody(&d)
			if err != nil {
				d.Verdict, d.Step, d.Status, d.Reason = filter.Deny, filter.StepFraming, http.StatusBadRequest, "cannot read the request body: "+err.Error()
				var se *statusError
				if errors.As(err, &se) {
					d.Status, d.Reason = se.status, se.msg
				}
				return d
			}
			req.Body, req.BodyTooLarge = body, int64(len(body)) > req.BodyLimit
		}
		if len(d.Lookups) > 0 {
			if req.Facts == nil {
				req.Facts = make(filter.Facts)
			}
			e.Answer(ctx, d.Lookups, req.Facts)
			if ctx.Err() != nil {
				d.Verdict, d.Status, d.Reason = filter.Deny, http.StatusServiceUnavailable, "shutting down"
				return d
			}
		}
		d = policy.DecideCached(c, cache, req)
	}
	return d
}

// Answer finds out each lookup not answered yet and records it in facts.
func (e *Engine) Answer(ctx context.Context, lookups []filter.Lookup, facts filter.Facts) {
	for _, l := range lookups {
		if _, done := facts[l]; done {
			continue
		}
		facts[l] = e.answer(ctx, l)
	}
}

func (e *Engine) answer(ctx context.Context, l filter.Lookup) filter.Fact {
	switch l.Kind {
	case filter.LookupHostPath:
		real, err := resolveHostPath(l.Ref)
		if err != nil {
			return filter.Fact{Err: err}
		}
		sub, err := mountsUnder(real)
		return filter.Fact{Path: real, Submounts: sub, Err: err}
	case filter.LookupContainer:
		var c struct {
			ID         string `json:"Id"`
			HostConfig *container.HostConfig
		}
		f := e.inspect(ctx, "/containers/"+url.PathEscape(l.Ref)+"/json", &c)
		if f.Err == nil && !f.Missing {
			f.Container = &filter.ContainerFact{ID: c.ID, HostConfig: c.HostConfig}
		}
		return f
	case filter.LookupExec:
		var x container.ExecInspectResponse
		f := e.inspect(ctx, "/exec/"+url.PathEscape(l.Ref)+"/json", &x)
		if f.Err == nil && !f.Missing {
			fact := &filter.ExecFact{ContainerID: x.ContainerID, Privileged: true}
			if pc := x.ProcessConfig; pc != nil {
				// An inspect that does not say is taken as privileged.
				fact.Privileged = pc.Privileged == nil || *pc.Privileged
				fact.User = pc.User
				fact.Command = append([]string{pc.Entrypoint}, pc.Arguments...)
			}
			f.Exec = fact
		}
		return f
	case filter.LookupNetwork:
		var n struct{ ID, Name, Driver string }
		f := e.inspect(ctx, "/networks/"+url.PathEscape(l.Ref), &n)
		if f.Missing {
			// A service names networks as the swarm does: the host
			// network has an id of its own there.
			f = e.inspect(ctx, "/networks/"+url.PathEscape(l.Ref)+"?scope=swarm", &n)
		}
		if f.Err == nil && !f.Missing {
			if n.ID == "" {
				return filter.Fact{Err: errors.New("the engine's network inspect gave no id")}
			}
			f.Network = &filter.NetworkFact{ID: n.ID, Name: n.Name, Driver: n.Driver}
		}
		return f
	case filter.LookupVolume:
		var v struct {
			Driver  string
			Options map[string]string
		}
		f := e.inspect(ctx, "/volumes/"+url.PathEscape(l.Ref), &v)
		if f.Err == nil && !f.Missing {
			f.Volume = &filter.VolumeFact{Driver: v.Driver, Options: v.Options}
		}
		return f
	case filter.LookupSecret, filter.LookupConfig:
		var o struct {
			ID   string
			Spec struct{ Name string }
		}
		kind := "/secrets/"
		if l.Kind == filter.LookupConfig {
			kind = "/configs/"
		}
		f := e.inspect(ctx, kind+url.PathEscape(l.Ref), &o)
		if f.Err == nil && !f.Missing {
			f.Swarm = &filter.SwarmObjectFact{ID: o.ID, Name: o.Spec.Name}
		}
		return f
	case filter.LookupEngine:
		var info struct{ CgroupVersion string }
		f := e.inspect(ctx, "/info", &info)
		if f.Err == nil && f.Missing {
			f = filter.Fact{Err: errors.New("the engine has no /info")}
		}
		if f.Err == nil {
			// Engines that do not say predate cgroup v2 support.
			if info.CgroupVersion == "" {
				info.CgroupVersion = "1"
			}
			f.Engine = &filter.EngineFact{CgroupVersion: info.CgroupVersion}
		}
		return f
	}
	return filter.Fact{Err: fmt.Errorf("unknown lookup %s", l)}
}

// inspect GETs an engine path and decodes its JSON answer into v; a 404
// is a missing object.
func (e *Engine) inspect(ctx context.Context, path string, v any) filter.Fact {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://docker"+path, nil)
	if err != nil {
		return filter.Fact{Err: err}
	}
	resp, err := e.rt.RoundTrip(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return filter.Fact{Err: fmt.Errorf("the Docker engine at %s did not answer within %s: %w", e.upstream, e.timeout, context.DeadlineExceeded)}
		}
		return filter.Fact{Err: fmt.Errorf("cannot reach the Docker engine at %s: %w", e.upstream, unwrapOpError(err))}
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return filter.Fact{Missing: true}
	default:
		return filter.Fact{Err: fmt.Errorf("engine answered %d", resp.StatusCode)}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxLookupAnswer)).Decode(v); err != nil {
		return filter.Fact{Err: fmt.Errorf("read the engine's answer: %w", err)}
	}
	return filter.Fact{}
}

// mountsUnder reports whether a mount point lies beneath dir, as this
// process's mount table shows it (the engine's is the host's; the unit's
// private trees are refused as bind sources).
func mountsUnder(dir string) (bool, error) {
	table, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("read the mount table: %w", err)
	}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	for line := range strings.SplitSeq(string(table), "\n") {
		// The fifth field is the mount point, with spaces, tabs,
		// newlines and backslashes escaped in octal.
		fields := strings.Fields(line)
		if len(fields) > 4 && strings.HasPrefix(unescapeMountPoint(fields[4]), prefix) {
			return true, nil
		}
	}
	return false, nil
}

func unescapeMountPoint(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// resolveHostPath resolves a host path's symbolic links as the kernel will
// meet them when it mounts the path. A path that does not exist yet (the
// engine may create a bind source) resolves through its longest existing
// parent; a symbolic link whose target does not exist is refused, since
// whoever made it could create the target later.
func resolveHostPath(p string) (string, error) {
	cur, rest := p, ""
	for {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if _, lerr := os.Lstat(cur); lerr == nil {
			return "", fmt.Errorf("%s is a symbolic link to a path that does not exist", cur)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return "", err
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// ResolveHostPath resolves a host path as the lookups do, for the learn
// records: the bind sources a policy needs are the path as written and
// as the kernel will meet it.
func ResolveHostPath(p string) (string, error) { return resolveHostPath(p) }
