package proxy_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
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
					if _, err := io.WriteString(c, answer); err != nil {
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
	_, sock := startProxy(b, rawEngine(b, pingAnswer))
	c, err := net.Dial("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: bench\r\n\r\n")
	want := []byte("\r\n\r\nOK")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !bytes.HasSuffix(append([]byte("\r\n\r\n"), body...), want) {
			b.Fatalf("status %d, body %q", resp.StatusCode, body)
		}
	}
}
