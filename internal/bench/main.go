// Command bench measures the filter against the engine it fronts, in one
// run: requests per second (or bytes per second) through the filter divided
// by the same against the engine's socket directly. It prints the figures
// and asserts nothing.
//
// It expects what `make bench` provides: DSF_TEST_DOCKER_HOST (a private
// engine), DSF_TEST_IMAGE and DSF_TEST_FILTER_BIN.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

type scenario struct {
	name  string
	conns int
	// one performs one unit of work on a connection (nil: a new one
	// each time) and returns the bytes it read.
	one func(sock string, c *conn) (int64, error)
	// fresh opens a new connection per request.
	fresh bool
	bytes bool // report bytes per second instead of requests
}

type conn struct {
	c  net.Conn
	br *bufio.Reader
}

func run() error {
	duration := flag.Duration("duration", 3*time.Second, "how long each measurement runs")
	rounds := flag.Int("rounds", 2, "measurements per side and scenario; the best counts")
	flag.Parse()
	engine := strings.TrimPrefix(os.Getenv("DSF_TEST_DOCKER_HOST"), "unix://")
	image := os.Getenv("DSF_TEST_IMAGE")
	bin := os.Getenv("DSF_TEST_FILTER_BIN")
	if engine == "" || image == "" || bin == "" {
		return errors.New("run through `make bench` (DSF_TEST_DOCKER_HOST, DSF_TEST_IMAGE, DSF_TEST_FILTER_BIN unset)")
	}
	dir, err := os.MkdirTemp("/tmp", "dsf-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	cid, err := docker(engine, "create", "--network", "none", image, "true")
	if err != nil {
		return err
	}
	defer docker(engine, "rm", "-f", cid)

	filtered := filepath.Join(dir, "f.sock")
	stop, err := startFilter(bin, engine, filtered, dir)
	if err != nil {
		return err
	}
	defer stop()

	scenarios := []scenario{
		{name: "GET /_ping, 8 keep-alive connections", conns: 8, one: request("GET /_ping")},
		{name: "GET /containers/json, new connection each (docker ps)", conns: 4, fresh: true, one: request("GET /v1.41/containers/json?all=1")},
		{name: "GET /containers/{id}/export stream, 1 connection", conns: 1, bytes: true, one: request("GET /v1.41/containers/" + cid + "/export")},
	}
	fmt.Printf("%-58s %14s %14s %7s\n", "scenario", "direct", "filtered", "ratio")
	for _, s := range scenarios {
		var best [2]float64
		for range *rounds {
			for i, sock := range []string{engine, filtered} {
				rate, err := measure(s, sock, *duration)
				if err != nil {
					return fmt.Errorf("%s via %s: %w", s.name, sock, err)
				}
				best[i] = max(best[i], rate)
			}
		}
		unit := "req/s"
		if s.bytes {
			unit = "MiB/s"
			best[0], best[1] = best[0]/(1<<20), best[1]/(1<<20)
		}
		fmt.Printf("%-58s %8.0f %5s %8.0f %5s %6.2fx\n", s.name, best[0], unit, best[1], unit, best[1]/best[0])
	}
	return nil
}

// startFilter runs the filter on its embedded default with the variables
// the scenarios need, and waits for its READY notification.
func startFilter(bin, engine, sock, dir string) (func(), error) {
	notifyPath := filepath.Join(dir, "notify.sock")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	defer notify.Close()
	cmd := exec.Command(bin, "serve", "--policy=", "--listen", sock, "--upstream", "unix://"+engine)
	cmd.Env = []string{"NOTIFY_SOCKET=" + notifyPath, "CONTAINERS=1", "ALLOW_EXPORT=1"}
	// Every request is logged, as in production; the records go nowhere.
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
	notify.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 1024)
	n, err := notify.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "READY=1") {
		stop()
		return nil, fmt.Errorf("filter not ready: %v %q", err, buf[:n])
	}
	return stop, nil
}

// request returns a unit of work that sends one request and reads the
// whole response.
func request(line string) func(string, *conn) (int64, error) {
	method, target, _ := strings.Cut(line, " ")
	raw := []byte(method + " " + target + " HTTP/1.1\r\nHost: docker\r\n\r\n")
	return func(_ string, c *conn) (int64, error) {
		if _, err := c.c.Write(raw); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
		if err != nil {
			return 0, err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return n, fmt.Errorf("%s: status %d", line, resp.StatusCode)
		}
		return n, err
	}
}

func dial(sock string) (*conn, error) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, br: bufio.NewReaderSize(c, 64<<10)}, nil
}

// measure runs a scenario for d and returns units (or bytes) per second.
func measure(s scenario, sock string, d time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var units, bytes atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, s.conns)
	start := time.Now()
	for range s.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *conn
			for ctx.Err() == nil {
				if c == nil {
					var err error
					if c, err = dial(sock); err != nil {
						errs <- err
						return
					}
				}
				n, err := s.one(sock, c)
				if err != nil {
					errs <- err
					return
				}
				units.Add(1)
				bytes.Add(n)
				if s.fresh {
					c.c.Close()
					c = nil
				}
			}
			if c != nil {
				c.c.Close()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	if s.bytes {
		return float64(bytes.Load()) / elapsed, nil
	}
	return float64(units.Load()) / elapsed, nil
}

func docker(engine string, args ...string) (string, error) {
	out, err := exec.Command("docker", append([]string{"-H", "unix://" + engine}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}
