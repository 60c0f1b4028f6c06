// Command bench measures the filter side by side with its peers in one
// run: the engine's socket directly, HAProxy with the allowlist of
// tecnativa/docker-socket-proxy (haproxy.cfg), and the filter, all in front
// of the same engine. Each cell is measured in rounds, the sides taking
// turns; it prints the median of the rounds with their spread, the ratio to
// the direct socket (the median of each round's), latency percentiles and
// the CPU each process spent per request, read from /proc. It asserts
// nothing.
//
// It expects what `make bench` provides: DSF_TEST_DOCKER_HOST (a private
// engine), DSF_TEST_ENGINE_PID, DSF_TEST_IMAGE and DSF_TEST_FILTER_BIN, and
// haproxy on the PATH.
package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

//go:embed haproxy.cfg
var haproxyConfig []byte

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// The allowlist every side gets: tecnativa's variables, for HAProxy's
// rules and the filter's embedded default alike.
var allowlist = []string{"CONTAINERS=1", "IMAGES=1", "POST=1", "EVENTS=1", "PING=1", "VERSION=1",
	// The filter keeps these behind variables of their own, where
	// tecnativa's sections grant them.
	"ALLOW_EXPORT=1", "ALLOW_IMAGE_EXPORT=1"}

// viewPolicy is the profile of the label-view cell: the list is filtered
// container by container.
const viewPolicy = `profiles:
  bench:
    allow: [ContainerList, SystemPing]
    visible_if_label: bench.visible=true
default: bench
`

// side is one way to the engine: its socket and the process between (0
// for the engine's own socket).
type side struct {
	name string
	sock string
	pid  int
}

type env struct {
	engine    string // the engine's socket
	enginePID int
	image     string
	bin       string
	dir       string
	devnull   *os.File
	duration  time.Duration
	rounds    int
	streams   int
}

func run() error {
	var e env
	flag.DurationVar(&e.duration, "duration", 2*time.Second, "how long each measurement runs")
	flag.IntVar(&e.rounds, "rounds", 3, "measurements per side and cell; the median counts")
	flag.IntVar(&e.streams, "streams", 1000, "idle events streams held open in the memory cell")
	only := flag.String("cells", "", "run only the cells whose name contains this")
	flag.Parse()
	e.engine = strings.TrimPrefix(os.Getenv("DSF_TEST_DOCKER_HOST"), "unix://")
	e.image = os.Getenv("DSF_TEST_IMAGE")
	e.bin = os.Getenv("DSF_TEST_FILTER_BIN")
	e.enginePID, _ = strconv.Atoi(os.Getenv("DSF_TEST_ENGINE_PID"))
	if e.engine == "" || e.image == "" || e.bin == "" || e.enginePID == 0 {
		return errors.New("run through `make bench` (DSF_TEST_DOCKER_HOST, DSF_TEST_ENGINE_PID, DSF_TEST_IMAGE, DSF_TEST_FILTER_BIN unset)")
	}
	if _, err := exec.LookPath("haproxy"); err != nil {
		return errors.New("haproxy is not installed: run scripts/deps.sh as root")
	}
	var err error
	if e.dir, err = os.MkdirTemp("/tmp", "dsf-bench"); err != nil {
		return err
	}
	defer os.RemoveAll(e.dir)
	if e.devnull, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
		return err
	}

	// The attach cell's container echoes its stdin, so that the client
	// drives the rate through the tunnel both ways; the others only need
	// to exist.
	talker, err := createContainer(e.engine, e.image, `["cat"],"OpenStdin":true`, false)
	if err != nil {
		return err
	}
	if _, err := call(e.engine, "POST", "/containers/"+talker+"/start", ""); err != nil {
		return err
	}
	if err := populate(e.engine, e.image, 21); err != nil {
		return err
	}

	direct := side{name: "direct", sock: e.engine}
	hap, stopHAP, err := startHAProxy(&e, "haproxy")
	if err != nil {
		return err
	}
	defer stopHAP()
	flt, stopFilter, err := startFilter(&e, "filter", "")
	if err != nil {
		return err
	}
	defer stopFilter()
	view, stopView, err := startFilter(&e, "filter (view)", viewPolicy)
	if err != nil {
		return err
	}
	defer stopView()
	all := []side{direct, hap, flt}

	ping := request("GET", "/_ping", 200)
	list := request("GET", "/v1.41/containers/json?all=1", 200)
	cells := []cell{
		{name: "GET /_ping, 8 keep-alive connections", conns: 8, sides: all, one: ping},
		{name: "GET /_ping, 64 keep-alive connections", conns: 64, sides: all, one: ping},
		{name: "GET /_ping, new connection per request, 8 workers", conns: 8, fresh: true, sides: all, one: ping},
		{name: "GET /containers/json?all=1 (21 containers), 8 keep-alive", conns: 8, sides: all, one: list},
		{name: "denied GET /info, 8 keep-alive (reconnects per 403)", conns: 8, sides: []side{hap, flt}, one: request("GET", "/v1.41/info", 403)},
		{name: "image export (GET /images/{name}/get), 1 connection", conns: 1, bytes: true, sides: all, one: request("GET", "/v1.41/images/"+e.image+"/get", 200)},
		{name: "hijacked attach stream, 1 connection", conns: 1, bytes: true, sides: all, stream: attach(talker)},
		{name: "GET /containers/json?all=1 (200 containers), 8 keep-alive", conns: 8, sides: all, one: list, setup: func() error { return populate(e.engine, e.image, 200) }},
		{name: "GET /containers/json?all=1 (200 containers), label view, 8 keep-alive", conns: 8, sides: []side{direct, view}, one: list},
	}
	fmt.Printf("%d rounds of %s per side and cell; median (spread over rounds); CPU per request (per MiB for the attach stream) from /proc\n\n", e.rounds, e.duration)
	fmt.Println("| cell | side | rate | ×direct | p50 | p99 | proxy CPU/req | engine CPU/req |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, c := range cells {
		if *only != "" && !strings.Contains(c.name, *only) {
			continue
		}
		if c.setup != nil {
			if err := c.setup(); err != nil {
				return fmt.Errorf("%s: set-up: %w", c.name, err)
			}
		}
		if err := runCell(&e, c); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	if *only == "" || strings.Contains("events", *only) {
		stopHAP()
		stopFilter()
		stopView()
		return eventCells(&e)
	}
	return nil
}

// cell is one measurement: a unit of work repeated on each of conns
// connections for the duration, or a stream read for it.
type cell struct {
	name  string
	conns int
	fresh bool // a new connection per request
	bytes bool // rate in bytes, not requests
	sides []side
	one   func(c *conn) (n int64, closed bool, err error)
	// stream reads one open-ended answer until ctx ends.
	stream func(ctx context.Context, c *conn) (int64, error)
	setup  func() error
}

type conn struct {
	c  net.Conn
	br *bufio.Reader
}

func dial(sock string) (*conn, error) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, br: bufio.NewReaderSize(c, 64<<10)}, nil
}

// sample is one measurement of one side.
type sample struct {
	rate       float64 // units or bytes per second
	p50, p99   time.Duration
	proxyCPU   time.Duration // per unit
	engineCPU  time.Duration
	reconnects float64 // per unit
}

func runCell(e *env, c cell) error {
	got := make([][]sample, len(c.sides))
	for range e.rounds {
		for i, s := range c.sides {
			smp, err := measure(e, c, s)
			if err != nil {
				return fmt.Errorf("via %s: %w", s.name, err)
			}
			got[i] = append(got[i], smp)
		}
	}
	direct := slices.IndexFunc(c.sides, func(s side) bool { return s.name == "direct" })
	for i, s := range c.sides {
		rates := field(got[i], func(x sample) float64 { return x.rate })
		med := median(rates)
		unit, scale := "req/s", 1.0
		if c.bytes {
			unit, scale = "MiB/s", 1<<20
		}
		// Each round's ratio compares sides measured one right after
		// the other; the median of those leaves out the drift between
		// rounds that a ratio of medians would take in.
		ratio := "—"
		if direct >= 0 {
			ratios := make([]float64, len(rates))
			for r := range rates {
				ratios[r] = rates[r] / max(got[direct][r].rate, 1e-9)
			}
			ratio = fmt.Sprintf("%.2f×", median(ratios))
		}
		rate := fmt.Sprintf("%.0f %s (%s)", med/scale, unit, spread(rates))
		if c.bytes {
			rate = fmt.Sprintf("%.1f %s (%s)", med/scale, unit, spread(rates))
		}
		if rc := median(field(got[i], func(x sample) float64 { return x.reconnects })); !c.fresh && rc > 0 {
			rate += fmt.Sprintf(", %.2f reconnects/req", rc)
		}
		proxyCPU := "—"
		if s.pid != 0 {
			proxyCPU = micros(median(field(got[i], func(x sample) float64 { return float64(x.proxyCPU) })))
		}
		p50, p99 := "—", "—"
		if c.stream == nil {
			p50 = micros(median(field(got[i], func(x sample) float64 { return float64(x.p50) })))
			p99 = micros(median(field(got[i], func(x sample) float64 { return float64(x.p99) })))
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", c.name, s.name, rate, ratio, p50, p99,
			proxyCPU, micros(median(field(got[i], func(x sample) float64 { return float64(x.engineCPU) }))))
	}
	return nil
}

// measure runs a cell against one side for the duration.
func measure(e *env, c cell, s side) (sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.duration)
	defer cancel()
	var units, nbytes, dials atomic.Int64
	lat := make([][]time.Duration, c.conns)
	var wg sync.WaitGroup
	errs := make(chan error, c.conns)
	cpu0, ecpu0 := cpuTime(s.pid), cpuTime(e.enginePID)
	start := time.Now()
	for w := range c.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cn *conn
			defer func() {
				if cn != nil {
					cn.c.Close()
				}
			}()
			for ctx.Err() == nil {
				if cn == nil {
					var err error
					if cn, err = dial(s.sock); err != nil {
						errs <- err
						return
					}
					dials.Add(1)
				}
				if c.stream != nil {
					n, err := c.stream(ctx, cn)
					nbytes.Add(n)
					if err != nil {
						errs <- err
					}
					return
				}
				t0 := time.Now()
				n, closed, err := c.one(cn)
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
				units.Add(1)
				nbytes.Add(n)
				if closed || c.fresh {
					cn.c.Close()
					cn = nil
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	cpu1, ecpu1 := cpuTime(s.pid), cpuTime(e.enginePID)
	select {
	case err := <-errs:
		return sample{}, err
	default:
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	n := max(units.Load(), 1)
	smp := sample{
		rate:       float64(units.Load()) / elapsed,
		p50:        percentile(all, 0.50),
		p99:        percentile(all, 0.99),
		proxyCPU:   (cpu1 - cpu0) / time.Duration(n),
		engineCPU:  (ecpu1 - ecpu0) / time.Duration(n),
		reconnects: float64(dials.Load()-int64(c.conns)) / float64(n),
	}
	if c.bytes {
		smp.rate = float64(nbytes.Load()) / elapsed
		if c.stream != nil {
			// Per MiB, the stream being one long request.
			mib := max(nbytes.Load()>>20, 1)
			smp.proxyCPU = (cpu1 - cpu0) / time.Duration(mib)
			smp.engineCPU = (ecpu1 - ecpu0) / time.Duration(mib)
		}
	}
	return smp, nil
}

// request returns a unit of work that sends one request and reads the
// whole answer, which must have status want.
func request(method, target string, want int) func(*conn) (int64, bool, error) {
	raw := []byte(method + " " + target + " HTTP/1.1\r\nHost: docker\r\n\r\n")
	return func(c *conn) (int64, bool, error) {
		if _, err := c.c.Write(raw); err != nil {
			return 0, false, err
		}
		resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
		if err != nil {
			return 0, false, err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			return n, false, fmt.Errorf("%s %s: status %d, want %d", method, target, resp.StatusCode, want)
		}
		return n, resp.Close, err
	}
}

// attach sends data through a hijacked attach to a container that echoes
// it, and reads it back, until ctx ends.
func attach(id string) func(context.Context, *conn) (int64, error) {
	raw := []byte("POST /v1.41/containers/" + id + "/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: docker\r\n" +
		"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
	return func(ctx context.Context, c *conn) (int64, error) {
		if _, err := c.c.Write(raw); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(c.br, &http.Request{Method: "POST"})
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			return 0, fmt.Errorf("attach: status %d", resp.StatusCode)
		}
		stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Now()) })
		defer stop()
		go func() {
			block := bytes.Repeat([]byte("0123456789abcdef"), 2<<10)
			for ctx.Err() == nil {
				if _, err := c.c.Write(block); err != nil {
					return
				}
			}
		}()
		n, err := io.Copy(io.Discard, c.br)
		if ctx.Err() != nil {
			err = nil
		}
		return n, err
	}
}

// eventCells measures idle events streams: the memory each costs the
// process in front of the engine, and how long one event takes to reach
// one stream and each of many. Every side runs fresh for each round, so
// that earlier cells' memory does not hide the streams'.
func eventCells(e *env) error {
	fmt.Println()
	fmt.Println("| events cell | side | memory per idle stream | one event to 1 stream | to each of N streams p50 / p99 / last |")
	fmt.Println("|---|---|---|---|---|")
	type result struct{ mem, one, p50, p99, last []float64 }
	names := []string{"direct", "haproxy", "filter"}
	results := make([]result, len(names))
	for round := range e.rounds {
		for i, name := range names {
			s := side{name: "direct", sock: e.engine, pid: e.enginePID}
			stop := func() {}
			var err error
			switch name {
			case "haproxy":
				s, stop, err = startHAProxy(e, name)
			case "filter":
				s, stop, err = startFilter(e, name, "", "--max-conns-per-uid", "0", "--max-conns", "0")
			}
			if err != nil {
				return err
			}
			one, err := eventDelays(e, s, 1, round)
			if err != nil {
				stop()
				return fmt.Errorf("events via %s: %w", name, err)
			}
			time.Sleep(200 * time.Millisecond)
			rss0 := rss(s.pid)
			many, err := eventDelays(e, s, e.streams, round)
			stop()
			if err != nil {
				return fmt.Errorf("events via %s: %w", name, err)
			}
			r := &results[i]
			r.mem = append(r.mem, float64(many.rss-rss0)/float64(e.streams))
			r.one = append(r.one, float64(one.delays[0]))
			r.p50 = append(r.p50, float64(percentile(many.delays, 0.5)))
			r.p99 = append(r.p99, float64(percentile(many.delays, 0.99)))
			r.last = append(r.last, float64(many.delays[len(many.delays)-1]))
		}
	}
	for i, name := range names {
		r := results[i]
		mem := fmt.Sprintf("%.1f KiB (%s)", median(r.mem)/1024, spread(r.mem))
		if name == "direct" {
			mem = fmt.Sprintf("%.1f KiB in the engine (%s)", median(r.mem)/1024, spread(r.mem))
		}
		fmt.Printf("| %d idle GET /events | %s | %s | %s (%s) | %s / %s / %s (%s) |\n", e.streams, name, mem,
			micros(median(r.one)), spread(r.one), micros(median(r.p50)), micros(median(r.p99)), micros(median(r.last)), spread(r.last))
	}
	return nil
}

type delays struct {
	delays []time.Duration // sorted
	rss    int64           // of the side's process with the streams open
}

// eventDelays opens n events streams, waits until they are idle, reads
// the side's memory, then makes one event and times its arrival on each.
func eventDelays(e *env, s side, n, round int) (delays, error) {
	conns := make([]*conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.c.Close()
		}
	}()
	raw := []byte("GET /v1.41/events HTTP/1.1\r\nHost: docker\r\n\r\n")
	for range n {
		c, err := dial(s.sock)
		if err != nil {
			return delays{}, err
		}
		conns = append(conns, c)
		if _, err := c.c.Write(raw); err != nil {
			return delays{}, err
		}
	}
	for _, c := range conns {
		c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
		if err != nil {
			return delays{}, err
		}
		if resp.StatusCode != 200 {
			return delays{}, fmt.Errorf("events: status %d", resp.StatusCode)
		}
		c.br = bufio.NewReader(resp.Body)
	}
	time.Sleep(time.Second)
	out := delays{rss: rss(s.pid)}
	name := fmt.Sprintf("bench-%s-%d-%d", strings.ReplaceAll(s.name, " ", "-"), n, round)
	got := make([]time.Duration, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	t0 := time.Now()
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				line, err := c.br.ReadSlice('\n')
				if err != nil {
					errs <- err
					return
				}
				if bytes.Contains(line, []byte(name)) {
					got[i] = time.Since(t0)
					return
				}
			}
		}()
	}
	if _, err := call(e.engine, "POST", "/volumes/create", `{"Name":"`+name+`"}`); err != nil {
		return delays{}, err
	}
	wg.Wait()
	call(e.engine, "DELETE", "/volumes/"+name, "")
	select {
	case err := <-errs:
		return delays{}, err
	default:
	}
	slices.Sort(got)
	out.delays = got
	return out, nil
}

// startFilter runs the filter on the allowlist's variables, or on
// policy, and waits for its READY notification.
func startFilter(e *env, name, policy string, flags ...string) (side, func(), error) {
	tag := strings.NewReplacer(" ", "", "(", "", ")", "").Replace(name)
	sock := filepath.Join(e.dir, tag+".sock")
	notifyPath := filepath.Join(e.dir, tag+"-notify.sock")
	os.Remove(sock)
	os.Remove(notifyPath)
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		return side{}, nil, err
	}
	defer notify.Close()
	policyFlag := "--policy="
	if policy != "" {
		path := filepath.Join(e.dir, tag+".yaml")
		if err := os.WriteFile(path, []byte(policy), 0o644); err != nil {
			return side{}, nil, err
		}
		policyFlag += path
	}
	args := append([]string{"serve", policyFlag, "--listen", sock, "--upstream", "unix://" + e.engine}, flags...)
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append([]string{"NOTIFY_SOCKET=" + notifyPath}, allowlist...)
	// Every request is logged, as in production; the records go nowhere.
	cmd.Stderr = e.devnull
	if err := cmd.Start(); err != nil {
		return side{}, nil, err
	}
	var once sync.Once
	stop := func() { once.Do(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }) }
	notify.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 1024)
	n, err := notify.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "READY=1") {
		stop()
		return side{}, nil, fmt.Errorf("filter not ready: %v %q", err, buf[:n])
	}
	return side{name: name, sock: sock, pid: cmd.Process.Pid}, stop, nil
}

// startHAProxy runs HAProxy with haproxy.cfg and waits until it answers.
func startHAProxy(e *env, name string) (side, func(), error) {
	cfg := filepath.Join(e.dir, "haproxy.cfg")
	sock := filepath.Join(e.dir, "haproxy.sock")
	os.Remove(sock)
	if err := os.WriteFile(cfg, haproxyConfig, 0o644); err != nil {
		return side{}, nil, err
	}
	cmd := exec.Command("haproxy", "-db", "-f", cfg)
	cmd.Env = append([]string{"BENCH_LISTEN=" + sock, "BENCH_UPSTREAM=" + e.engine}, allowlist...)
	cmd.Stdout, cmd.Stderr = e.devnull, e.devnull
	if err := cmd.Start(); err != nil {
		return side{}, nil, err
	}
	var once sync.Once
	stop := func() { once.Do(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }) }
	ping := request("GET", "/_ping", 200)
	for range 300 {
		if c, err := dial(sock); err == nil {
			_, _, err = ping(c)
			c.c.Close()
			if err == nil {
				return side{name: name, sock: sock, pid: cmd.Process.Pid}, stop, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	return side{}, nil, errors.New("haproxy did not answer within 6s")
}

// populate creates containers, labelled for the view, until the engine
// has n.
func populate(engine, image string, n int) error {
	out, err := call(engine, "GET", "/containers/json?all=1", "")
	if err != nil {
		return err
	}
	have := strings.Count(out, `"Id":`)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	todo := make(chan struct{}, max(n-have, 0))
	for range n - have {
		todo <- struct{}{}
	}
	close(todo)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range todo {
				if _, err := createContainer(engine, image, `["true"]`, false); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func createContainer(engine, image, cmd string, tty bool) (string, error) {
	body := fmt.Sprintf(`{"Image":%q,"Cmd":%s,"Tty":%t,"Labels":{"bench.visible":"true"},"HostConfig":{"NetworkMode":"none"}}`, image, cmd, tty)
	out, err := call(engine, "POST", "/containers/create", body)
	if err != nil {
		return "", err
	}
	_, rest, ok := strings.Cut(out, `"Id":"`)
	id, _, _ := strings.Cut(rest, `"`)
	if !ok || id == "" {
		return "", fmt.Errorf("container create: %s", out)
	}
	return id, nil
}

// call makes one request to the engine directly and returns its answer.
func call(engine, method, path, body string) (string, error) {
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", engine)
	}}, Timeout: time.Minute}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest(method, "http://docker"+path, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return "", fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, out)
	}
	return string(out), err
}

// cpuTime is the CPU a process has used, user and system, from
// /proc/PID/stat (in clock ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields after it do not.
	_, rest, _ := bytes.Cut(b, []byte(") "))
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// rss is a process's resident memory in bytes, from /proc/PID/status.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}

func field(s []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(s))
	for i, x := range s {
		out[i] = f(x)
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

// spread is the range of the rounds around their median, in percent.
func spread(v []float64) string {
	m := median(v)
	if m == 0 {
		return "±0%"
	}
	return fmt.Sprintf("−%.0f/+%.0f%%", (m-slices.Min(v))/m*100, (slices.Max(v)-m)/m*100)
}

func micros(ns float64) string {
	d := time.Duration(ns)
	switch {
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", d.Seconds()*1000)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", d.Seconds()*1000)
	}
	return fmt.Sprintf("%.0f µs", d.Seconds()*1e6)
}
