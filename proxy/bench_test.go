package proxy_test

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
	"github.com/docker-socket-filter/docker-socket-filter/identity"
	"github.com/docker-socket-filter/docker-socket-filter/internal/logfmt"
	"github.com/docker-socket-filter/docker-socket-filter/internal/peerproc"
	"github.com/docker-socket-filter/docker-socket-filter/proxy"
)

// pingAnswer is the engine's answer to GET /_ping, headers included.
const pingAnswer = "HTTP/1.1 200 OK\r\nApi-Version: 1.47\r\nBuilder-Version: 2\r\nCache-Control: no-cache, no-store, must-revalidate\r\n" +
	"Content-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\nDocker-Experimental: false\r\nOstype: linux\r\n" +
	"Pragma: no-cache\r\nServer: Docker/27.5.1 (linux)\r\nDate: Tue, 01 Dec 2026 17:00:00 GMT\r\n\r\nOK"

// rawEngine answers every request head on every connection with answer,
// allocating nothing per request, so that a benchmark counts the
// proxy's allocations.
func rawEngine(b *testing.B, answer string) string {
	sock, ln := listenEngine(b)
	raw := []byte(answer)
	go func() {
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(raw); err != nil {
						return
					}
				}
			}()
		}
	}()
	return sock
}

// BenchmarkKeepAlivePing is one client connection's GET /_ping, decided
// and forwarded on its held upstream connection: CPU and allocations per
// request of the proxy's hot path (go test ./proxy -bench Ping -benchmem).
func BenchmarkKeepAlivePing(b *testing.B) {
	keepAlive(b, pingAnswer, "GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: bench\r\n\r\n", "OK")
}

// keepAlive sends req again and again on one connection to a proxy in
// front of a raw engine that answers with answer, each answer's body
// checked against want. Each request is logged as the daemon logs it.
func keepAlive(b *testing.B, answer, req, want string) {
	_, srv := newProxyConfig(b, proxy.Config{Upstream: rawEngine(b, answer), Log: slog.New(logfmt.New(io.Discard, false, nil))})
	sock := serve(b, srv)
	c, err := net.Dial("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	raw, wantBytes := []byte(req), []byte(want)
	body := bytes.NewBuffer(make([]byte, 0, len(want)+bytes.MinRead))
	b.SetBytes(int64(len(want)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(raw); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		body.Reset()
		body.ReadFrom(resp.Body)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body.Bytes(), wantBytes) {
			b.Fatalf("status %d, %d bytes of body", resp.StatusCode, body.Len())
		}
	}
}

// BenchmarkNewConnPing is GET /_ping on a new connection each time, as
// the daemon serves it: the peer's credentials and process found out at accept,
// its identity settled at the first request, the request logged.
func BenchmarkNewConnPing(b *testing.B) {
	engine := rawEngine(b, pingAnswer)
	table, err := filter.NewRouteTable()
	if err != nil {
		b.Fatal(err)
	}
	policy, err := filter.EnvPolicy(table, func(k string) (string, bool) { v, ok := testEnv[k]; return v, ok })
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(logfmt.New(io.Discard, false, nil))
	procs := peerproc.New("/proc")
	p := proxy.New(proxy.Config{Upstream: engine, Log: log,
		Identity: identity.New(proxy.UnixTransport(engine, 1), procs, log)}, policy)
	b.Cleanup(func() { p.StopWatches(); p.CloseIdleUpstream() })
	sock := serveWithProcs(b, p.NewServer(), procs)
	req := []byte("GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: bench\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("unix", sock)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		c.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkKeepAliveList is a container list of about 16 KiB the engine
// sends chunked, as it does, on one keep-alive connection.
func BenchmarkKeepAliveList(b *testing.B) {
	entry := `{"Id":"6a8437abdd71ebb8fe5685e4d316f49e5f68f73a1cf211bbd966a573864224fe","Names":["/c"],"Image":"dsf-test:latest","Labels":{"a":"b"},"State":"running","Status":"Up 1 minute","Mounts":[],"NetworkSettings":{"Networks":{}},"HostConfig":{"NetworkMode":"none"},"Command":"sleep 100000","Created":1764600000,"Ports":[],"ImageID":"sha256:42c75b7b2982","SizeRw":0}`
	list := "[" + strings.Repeat(entry+",", 40) + entry + "]\n"
	answer := "HTTP/1.1 200 OK\r\nApi-Version: 1.47\r\nContent-Type: application/json\r\nDocker-Experimental: false\r\nOstype: linux\r\n" +
		"Server: Docker/27.5.1 (linux)\r\nDate: Tue, 01 Dec 2026 17:00:00 GMT\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strconv.FormatInt(int64(len(list)), 16) + "\r\n" + list + "\r\n0\r\n\r\n"
	keepAlive(b, answer, "GET /v1.47/containers/json?all=1 HTTP/1.1\r\nHost: docker\r\n\r\n", list)
}
