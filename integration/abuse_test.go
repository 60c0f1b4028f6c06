package integration

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// abusePolicy gives every caller pings, events, container lists and
// creates, and names uid 0 (and 4700) as the admin's own.
const abusePolicy = `
profiles:
  p:
    allow: [SystemPing, SystemEvents, ContainerList, ContainerCreate, ContainerAttach, ContainerExec]
clients:
  - user: 0
    profile: p
  - user: 4700
    profile: p
default: p
`

// recordsMatching counts the filter's log records that match re.
func recordsMatching(f *filterProc, re string) int {
	return len(regexp.MustCompile(re).FindAllString(f.logs.String(), -1))
}

// waitRecords waits (bounded) until n records match re.
func waitRecords(t *testing.T, f *filterProc, re string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for recordsMatching(f, re) < n {
		if time.Now().After(deadline) {
			t.Fatalf("want %d log records matching %q, have %d:\n%s", n, re, recordsMatching(f, re), f.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stallBody sends a create whose body stops short of its Content-Length.
func stallBody(t *testing.T, sock string, length int) *net.UnixConn {
	t.Helper()
	c := dial(t, sock)
	fmt.Fprintf(c, "POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"Image\":", length)
	return c
}

func readAnswer(t *testing.T, c net.Conn) (int, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	return resp.StatusCode, bodyOf(t, resp)
}

// TestStalledBodiesAreBounded: judged bodies held at once are bounded
// across callers, with a share the unlisted cannot take; a body that stops
// arriving is answered 408 and frees its share; each has its record.
func TestStalledBodiesAreBounded(t *testing.T) {
	e := testEnv(t)
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, strings.Replace(abusePolicy, "  - user: 0\n    profile: p\n", "", 1))
	const body = 100000
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy, "--listen-mode", "0666",
		"--max-body", strconv.Itoa(body), "--max-body-memory", strconv.Itoa(4 * body), "--body-timeout", "2s",
		"--log-level", "debug"}})

	// Root is unlisted here: three bodies fill the three quarters of
	// the budget it may use; the fourth is refused at once.
	var stalled []*net.UnixConn
	for range 3 {
		stalled = append(stalled, stallBody(t, f.sock, body))
	}
	waitRecords(t, f, `msg="reading body"`, 3)
	over := stallBody(t, f.sock, body)
	if status, msg := readAnswer(t, over); status != http.StatusServiceUnavailable || !strings.Contains(msg, "too many request bodies") {
		t.Errorf("a body over the budget: %d %s, want 503", status, msg)
	}
	// A listed caller may use the quarter kept for it.
	out, err := exec.Command("setpriv", "--reuid", "4700", "--regid", "4700", "--clear-groups",
		"curl", "-s", "--unix-socket", f.sock, "-H", "Content-Type: application/json",
		"--data-binary", `{"Image":"x","HostConfig":{"Privileged":true}}`, "http://d/v1.41/containers/create").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "privileged containers are not allowed") {
		t.Errorf("a listed caller's body was not judged: %v %s", err, out)
	}
	// The stalled bodies time out: 408, and their share is free again.
	for _, c := range stalled {
		if status, msg := readAnswer(t, c); status != http.StatusRequestTimeout || !strings.Contains(msg, "too slowly") {
			t.Errorf("a stalled body: %d %s, want 408", status, msg)
		}
	}
	waitRecords(t, f, `msg=request .*operation=ContainerCreate .*status=408`, 3)
	again := stallBody(t, f.sock, body)
	io.WriteString(again, strings.Repeat(" ", body-len(`{"Image":`)))
	if status, msg := readAnswer(t, again); status != http.StatusBadRequest {
		t.Errorf("after the stalled bodies ended, a whole body: %d %s, want it judged (400: not JSON)", status, msg)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holdEvents starts curl as uid, holding an events stream open through the
// filter; it returns the process and where its output goes.
func holdEvents(t *testing.T, sock string, uid int) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command("setpriv", "--reuid", strconv.Itoa(uid), "--regid", strconv.Itoa(uid), "--clear-groups",
		"curl", "-sN", "--unix-socket", sock, "http://d/v1.41/events")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, out
}

// TestConnectionBoundsAcrossUIDs: callers that take many uids cannot take
// every connection: past --max-conns less the reserve, others get 503,
// a uid past its own bound 429, and the policy's listed callers are
// still served from the reserve.
func TestConnectionBoundsAcrossUIDs(t *testing.T) {
	e := testEnv(t)
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, abusePolicy)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy, "--listen-mode", "0666",
		"--max-conns", "10", "--reserve-conns", "2", "--max-conns-per-uid", "3"}})
	held := 0
	for _, uid := range []int{5001, 5002} {
		for range 3 {
			holdEvents(t, f.sock, uid)
			held++
			waitRecords(t, f, `msg=forward .*operation=SystemEvents`, held)
		}
	}
	// A uid over its own bound.
	cmd, out := holdEvents(t, f.sock, 5001)
	cmd.Wait()
	if !strings.Contains(out.String(), "at most 3 per uid") {
		t.Errorf("a uid's fourth connection got %q, want the per-uid refusal", out.String())
	}
	for range 2 {
		holdEvents(t, f.sock, 5003)
		held++
		waitRecords(t, f, `msg=forward .*operation=SystemEvents`, held)
	}
	// Eight held: the unreserved connections are all taken.
	cmd, out = holdEvents(t, f.sock, 5003)
	cmd.Wait()
	if !strings.Contains(out.String(), "all the 8 connections") {
		t.Errorf("an unlisted caller past the bound got %q, want the 503 refusal", out.String())
	}
	// The admin's own callers (root, uid 4700) are served from the reserve.
	if status, body := get(t, f.sock, "/_ping"); status != 200 {
		t.Errorf("root past the unreserved bound: %d %s", status, body)
	}
	out2, err := exec.Command("setpriv", "--reuid", "4700", "--regid", "4700", "--clear-groups",
		"curl", "-s", "--unix-socket", f.sock, "http://d/_ping").CombinedOutput()
	if err != nil || string(out2) != "OK" {
		t.Errorf("listed uid 4700 past the unreserved bound: %v %q", err, out2)
	}
}

// stopEngine freezes the test engine (SIGSTOP) until the test ends.
func stopEngine(t *testing.T) {
	t.Helper()
	pid, err := strconv.Atoi(os.Getenv("DSF_TEST_ENGINE_PID"))
	if err != nil {
		t.Fatal("DSF_TEST_ENGINE_PID unset: run the integration tests with `make test`")
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	// The signal is delivered asynchronously: until every thread shows
	// as stopped, the engine may still answer.
	waitUntil(t, func() bool {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				continue // a thread that ended
			}
			_, rest, _ := strings.Cut(string(stat), ") ")
			if !strings.HasPrefix(rest, "T") {
				return false
			}
		}
		return true
	})
}

func openFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestHungEngine: while the engine does not answer, a request that is not
// a stream, and the inspect a target check makes, end with a JSON 504
// after --engine-timeout, and give back what they held.
func TestHungEngine(t *testing.T) {
	e := testEnv(t)
	id := runContainer(t, e, e.image, "sleep", "300")
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, abusePolicy)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy, "--engine-timeout", "1s", "--max-conns-per-uid", "4"}})
	if status, _ := get(t, f.sock, "/_ping"); status != 200 {
		t.Fatalf("ping before: %d", status)
	}
	before := openFDs(t, f.cmd.Process.Pid)
	stopEngine(t)
	for i := range 8 {
		path := "/v1.41/containers/json"
		method, body := "GET", ""
		if i%2 == 1 {
			path, method, body = "/v1.41/containers/"+id+"/exec", "POST", `{"Cmd":["true"]}`
		}
		resp, answer := holeReq(t, f.sock, method, path, "application/json", body)
		if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(answer, "did not answer within 1s") {
			t.Errorf("%s %s with the engine hung: %d %s, want 504", method, path, resp.StatusCode, answer)
		}
	}
	waitRecords(t, f, `msg=request .*status=504`, 8)
	// Eight requests over a per-uid bound of four: each gave its
	// connection back; the descriptors are those of before, give or take
	// the engine connections the pool keeps.
	waitUntil(t, func() bool { return openFDs(t, f.cmd.Process.Pid) <= before+8 })
}

// TestShutdownRecordsEveryRequest: requests the engine received and that
// SIGTERM cut at --shutdown-timeout, and a tunnel shutdown ended, each
// have their audit record, with the status their client got.
func TestShutdownRecordsEveryRequest(t *testing.T) {
	e := testEnv(t)
	id := runContainer(t, e, "-i", e.image, "cat")
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, abusePolicy)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy, "--shutdown-timeout", "1s", "--engine-timeout", "1m", "--log-level", "debug"}})
	tunnel := dial(t, f.sock)
	fmt.Fprintf(tunnel, "POST /v1.41/containers/%s/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n", id)
	if resp, err := http.ReadResponse(bufio.NewReader(tunnel), &http.Request{Method: "POST"}); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("attach: %v %v", resp, err)
	}
	stopEngine(t)
	const n = 5
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("unix", f.sock)
			if err != nil {
				statuses <- 0
				return
			}
			defer c.Close()
			io.WriteString(c, "GET /v1.41/containers/json HTTP/1.1\r\nHost: d\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				statuses <- -1
				return
			}
			statuses <- resp.StatusCode
		}()
	}
	waitRecords(t, f, `msg=forward .*operation=ContainerList`, n)
	f.signal(syscall.SIGTERM)
	if err := f.wait(t); err != nil {
		t.Errorf("filter exit: %v", err)
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusServiceUnavailable {
			t.Errorf("a request cut at shutdown got status %d, want 503", s)
		}
	}
	if got := recordsMatching(f, `msg=request .*operation=ContainerList .*status=503`); got != n {
		t.Errorf("%d records of the %d cut requests:\n%s", got, n, f.logs.String())
	}
	if got := recordsMatching(f, `msg=request .*operation=ContainerAttach .*status=101`); got != 1 {
		t.Errorf("%d records of the tunnel shutdown ended, want 1", got)
	}
}

// TestIdleConnectionsDoNotHoldShutdown: connections that sent nothing, or
// a body that stalls, are closed at once by SIGTERM, not waited for.
func TestIdleConnectionsDoNotHoldShutdown(t *testing.T) {
	e := testEnv(t)
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, abusePolicy)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy, "--shutdown-timeout", "5m", "--log-level", "debug"}})
	var idle []*net.UnixConn
	for range 100 {
		idle = append(idle, dial(t, f.sock))
	}
	stalled := stallBody(t, f.sock, 5000)
	waitRecords(t, f, `msg="reading body"`, 1)
	waitUntil(t, func() bool { return strings.Count(readProcFile(t, "/proc/net/unix"), f.sock) >= 102 })
	f.signal(syscall.SIGTERM)
	// Well within the five-minute timeout: nothing waits for these.
	select {
	case <-f.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the filter still runs 20s after SIGTERM, with idle connections open")
	}
	for i, c := range idle {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		// Closed at once: EOF, or a reset for one still in the queue.
		if n, err := c.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("idle connection %d: read %d, %v; want it closed", i, n, err)
		}
	}
	if status, msg := readAnswer(t, stalled); status != http.StatusServiceUnavailable {
		t.Errorf("a stalled body at shutdown: %d %s, want 503", status, msg)
	}
}

func readProcFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
