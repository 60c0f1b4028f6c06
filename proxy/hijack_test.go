package proxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

const execBody = `{"Detach":false,"Tty":false}`

// execStart is the docker CLI's exec start request, with or without the
// upgrade it asks for since API 1.23.
func execStart(upgrade bool) string {
	h := "POST /v1.47/exec/e1/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(execBody)) + "\r\n"
	if upgrade {
		h += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
	}
	return h + "\r\n" + execBody
}

// readEngineRequest reads the request the proxy sent to the fake engine,
// body included.
func readEngineRequest(t *testing.T, br *bufio.Reader) (*http.Request, string) {
	t.Helper()
	req, err := http.ReadRequest(br)
	if err != nil {
		t.Fatalf("engine read request: %v", err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatalf("engine read body: %v", err)
	}
	return req, string(body)
}

func readExactly(t *testing.T, r io.Reader, want, what string) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil || string(got) != want {
		t.Fatalf("%s: read %q (%v), want %q", what, got, err, want)
	}
}

func wantEOF(t *testing.T, r io.Reader, what string) {
	t.Helper()
	rest, err := io.ReadAll(r)
	if err != nil || len(rest) != 0 {
		t.Fatalf("%s: read %q (%v), want EOF", what, rest, err)
	}
}

func TestTunnelHalfClose(t *testing.T) {
	tests := []struct {
		name    string
		upgrade bool
		// head is the engine's answer that hands the connection over.
		head   string
		status int
		// pipelined sends stdin in the same write as the request, so that
		// it sits in the server's buffer when the tunnel opens.
		pipelined bool
	}{
		{
			name: "101 upgrade", upgrade: true, status: http.StatusSwitchingProtocols,
			head: "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
		},
		{
			name: "101 upgrade, stdin pipelined", upgrade: true, status: http.StatusSwitchingProtocols, pipelined: true,
			head: "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
		},
		{
			name: "legacy 200 raw stream", status: http.StatusOK,
			head: "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n",
		},
		{
			name: "legacy 200 raw stream, stdin pipelined", status: http.StatusOK, pipelined: true,
			head: "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			engine, ln := listenEngine(t)
			_, sock := startProxy(t, engine)
			client, cbr := dial(t, sock)

			req := execStart(tc.upgrade)
			if tc.pipelined {
				req += "stdin"
			}
			if _, err := client.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
			up, ubr := acceptEngine(t, ln)
			got, body := readEngineRequest(t, ubr)
			if got.URL.Path != "/v1.47/exec/e1/start" || body != execBody {
				t.Fatalf("engine got %s %q", got.URL.Path, body)
			}
			if tc.upgrade && (got.Header.Get("Upgrade") != "tcp" || !strings.EqualFold(got.Header.Get("Connection"), "Upgrade")) {
				t.Errorf("engine got Connection %q, Upgrade %q; want the client's upgrade",
					got.Header.Get("Connection"), got.Header.Get("Upgrade"))
			}
			if _, err := up.Write([]byte(tc.head + "out1")); err != nil {
				t.Fatal(err)
			}

			resp, err := http.ReadResponse(cbr, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("client got status %d, want %d", resp.StatusCode, tc.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.docker.raw-stream" {
				t.Errorf("client got Content-Type %q", ct)
			}
			// From here the connection is the raw stream: read it past
			// the head, not as an HTTP body.
			readExactly(t, cbr, "out1", "client")

			if !tc.pipelined {
				if _, err := client.Write([]byte("stdin")); err != nil {
					t.Fatal(err)
				}
			}
			if err := client.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			// The client's half-close reaches the engine as the end of
			// stdin...
			readExactly(t, ubr, "stdin", "engine")
			wantEOF(t, ubr, "engine after the client's half-close")
			// ...and output the engine writes after it still reaches
			// the client, then the engine's end ends the client's stream.
			if _, err := up.Write([]byte("out2")); err != nil {
				t.Fatal(err)
			}
			up.Close()
			readExactly(t, cbr, "out2", "client after its half-close")
			wantEOF(t, cbr, "client after the engine's end")
		})
	}
}

func TestHijackRelaysNonTunnelAnswer(t *testing.T) {
	tests := []struct {
		name, answer string
		status       int
		body         string
	}{
		{
			name:   "no such exec",
			answer: "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n" + `{"message":"No such exec instance: e1"}` + "\n",
			status: http.StatusNotFound, body: `{"message":"No such exec instance: e1"}` + "\n",
		},
		{
			name:   "chunked 200 is not a tunnel",
			answer: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n0\r\n\r\n",
			status: http.StatusOK, body: "{}\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			engine, ln := listenEngine(t)
			_, sock := startProxy(t, engine)
			client, cbr := dial(t, sock)
			if _, err := client.Write([]byte(execStart(true))); err != nil {
				t.Fatal(err)
			}
			up, ubr := acceptEngine(t, ln)
			readEngineRequest(t, ubr)
			if _, err := up.Write([]byte(tc.answer)); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(cbr, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || string(body) != tc.body {
				t.Errorf("client got %d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
			}
			// Bytes the client sent for a tunnel that did not open must
			// not be read as its next request.
			if !resp.Close {
				t.Error("the answer does not close the connection")
			}
		})
	}
}

func TestShutdownDuringTunnelSetup(t *testing.T) {
	tests := []struct {
		name string
		// answered: the engine got the request and has not answered when
		// shutdown comes; otherwise shutdown comes before the request.
		answered bool
	}{
		{"connection after shutdown began", false},
		{"engine has not answered", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			engine, ln := listenEngine(t)
			p, sock := startProxy(t, engine)
			if !tc.answered {
				p.StopWatches()
			}
			client, cbr := dial(t, sock)
			if _, err := client.Write([]byte(execStart(true))); err != nil {
				if !tc.answered {
					return // closed before the request was even sent
				}
				t.Fatal(err)
			}
			var up *net.UnixConn
			if tc.answered {
				var ubr *bufio.Reader
				up, ubr = acceptEngine(t, ln)
				readEngineRequest(t, ubr)
				p.StopWatches()
			}
			resp, err := http.ReadResponse(cbr, nil)
			if !tc.answered {
				// A connection that comes once shutdown has begun is
				// closed unserved: never an empty 200.
				if err == nil {
					t.Fatalf("a connection opened during shutdown was served: %d", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("client got no answer: %v", err)
			}
			defer resp.Body.Close()
			wantJSONError(t, resp, http.StatusServiceUnavailable, "shutting down")
			if up != nil {
				// The engine's side is let go, not left for a tunnel.
				wantEOF(t, up, "engine")
			}
		})
	}
}

// noHijack hides the connection from the proxy, as a server that cannot
// hand it over would.
type noHijack struct{ http.ResponseWriter }

func (w noHijack) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

func TestHijackFailureAnswersJSON(t *testing.T) {
	engine, ln := listenEngine(t)
	p, srv := newProxy(t, engine)
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.ServeHTTP(noHijack{w}, r)
	})
	sock := serve(t, srv)
	client, cbr := dial(t, sock)
	if _, err := client.Write([]byte(execStart(true))); err != nil {
		t.Fatal(err)
	}
	up, ubr := acceptEngine(t, ln)
	readEngineRequest(t, ubr)
	if _, err := up.Write([]byte("HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(cbr, nil)
	if err != nil {
		t.Fatalf("client got no answer: %v", err)
	}
	defer resp.Body.Close()
	wantJSONError(t, resp, http.StatusInternalServerError, "cannot take over the client connection")
	if !resp.Close {
		t.Error("the answer does not close the connection")
	}
	// The engine's connection, upgraded for nothing, is closed.
	if n, err := up.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("engine read %d bytes, %v; want EOF", n, err)
	}
}
