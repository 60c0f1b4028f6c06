package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// planted is put in environment values, labels, arguments and headers:
// no learn record may hold it.
const planted = "planted-Secret-4f1c"

type peerRun struct {
	uid  int
	args []string
}

func runPeers(t *testing.T, sock string, runs []peerRun, wantOK bool) {
	t.Helper()
	for _, r := range runs {
		out, errOut, err := asPeer(t, sock, r.uid, r.uid, nil, r.args...)
		if (err == nil) != wantOK {
			t.Errorf("uid %d: docker %v: err %v\nstdout %s\nstderr %s", r.uid, r.args, err, out, errOut)
		}
	}
}

// replay sends a preset's calls as the Go client of the test's own uid,
// with a header carrying a planted value.
func replay(t *testing.T, sock string, calls []presetCall, container string) {
	t.Helper()
	c := unixHTTPClient(sock)
	for _, pc := range calls {
		req, err := http.NewRequest(pc.method, "http://docker"+strings.ReplaceAll(pc.path, "{c}", container), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Registry-Auth", planted)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", pc.method, pc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s: %d", pc.method, pc.path, resp.StatusCode)
		}
	}
}

type learnRecords struct {
	Callers []struct {
		UID uint32 `json:"uid"`
		Ops map[string]struct {
			Count     uint64            `json:"count"`
			Denied    uint64            `json:"denied"`
			WouldDeny map[string]uint64 `json:"would_deny"`
		} `json:"ops"`
	} `json:"callers"`
}

func readRecords(t *testing.T, dir string) (learnRecords, []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "learn.json"))
	if err != nil {
		t.Fatalf("learn records: %v", err)
	}
	var r learnRecords
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("learn records: %v\n%s", err, data)
	}
	return r, data
}

func (r learnRecords) count(uid uint32, op string) uint64 {
	for _, c := range r.Callers {
		if c.UID == uid {
			return c.Ops[op].Count
		}
	}
	return 0
}

// TestLearnSuggestRoundTrip learns what two docker CLI users and a Go
// client replaying preset/traefik's calls do, through a filter that
// forwards what their profile denies; serves the suggestion in force;
// and reruns them: all they did passes, what neither did is denied.
func TestLearnSuggestRoundTrip(t *testing.T) {
	e := testEnv(t)
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e6)
	name := "dsf-learn-c-" + suffix
	id := runContainer(t, e, "--name", name, e.image, "sleep", "300")
	bindDir := "/var/lib/dsf-learn-" + suffix
	if err := os.MkdirAll(bindDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bindDir) })
	state := shortTempDir(t)
	me := os.Getuid()
	policy := writePolicy(t, shortTempDir(t), fmt.Sprintf(`profiles:
  start:
    allow: [SystemPing]
clients:
  - user: 4401
    profile: start
  - user: 4402
    profile: start
  - user: %d
    profile: start
default: none
`, me))
	alice := []peerRun{
		{4401, []string{"ps", "-a"}},
		{4401, []string{"images"}},
		{4401, []string{"run", "--rm", "--user", "4401:4401", "--security-opt", "no-new-privileges",
			"-e", "TOKEN=" + planted, "--label", "note=" + planted, "-v", bindDir + ":/data:ro", e.image, "echo", planted}},
	}
	bob := []peerRun{
		{4402, []string{"network", "ls"}},
		{4402, []string{"volume", "ls"}},
		{4402, []string{"exec", "-e", "K=" + planted, name, "true"}},
	}
	traefik := presetReplays()["traefik"]

	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy, "--listen-mode", "0666", "--learn=allow", "--state-dir", state}})
	runPeers(t, f.sock, alice, true)
	runPeers(t, f.sock, bob, true)
	replay(t, f.sock, traefik, id)
	// Unlisted: no learn mode applies without --learn-default.
	runPeers(t, f.sock, []peerRun{{4403, []string{"ps"}}}, false)
	if !strings.Contains(f.logs.String(), "would-deny=") {
		t.Errorf("no would-deny in the audit log:\n%s", f.logs.String())
	}
	f.signal(syscall.SIGTERM)
	if err := f.wait(t); err != nil {
		t.Fatalf("filter exit: %v", err)
	}
	recs, data := readRecords(t, state)
	if strings.Contains(string(data), planted) {
		t.Fatalf("the learn records hold a planted value:\n%s", data)
	}
	if recs.count(4403, "ContainerList") != 0 {
		t.Error("an unlisted caller was recorded")
	}
	pings := recs.count(4401, "SystemPingHead")
	if pings == 0 || recs.count(4401, "ContainerCreate") == 0 || recs.count(4402, "ContainerExec") == 0 || recs.count(uint32(me), "ContainerInspect") == 0 {
		t.Fatalf("records lack what was done:\n%s", data)
	}

	// A restart and a reload keep the records.
	notifyPath, notes := listenNotify(t, filepath.Join(shortTempDir(t), "n.sock"))
	f = startFilterWithNotify(t, e, notifyPath, notes, "--policy", policy, "--listen-mode", "0666", "--learn=allow", "--state-dir", state)
	runPeers(t, f.sock, alice[:1], true)
	f.signal(syscall.SIGHUP)
	waitNotify(t, notes, "RELOADING=1")
	waitNotify(t, notes, "READY=1")
	runPeers(t, f.sock, alice[:1], true)
	f.signal(syscall.SIGTERM)
	if err := f.wait(t); err != nil {
		t.Fatalf("filter exit: %v", err)
	}
	again, data := readRecords(t, state)
	if got := again.count(4401, "SystemPingHead"); got < pings+2 {
		t.Errorf("SystemPingHead counted %d after a restart and a reload, want at least %d", got, pings+2)
	}
	if again.count(4402, "NetworkList") == 0 {
		t.Error("records of before the restart were lost")
	}
	if len(data) > 64<<10 {
		t.Errorf("records of %d bytes for a handful of calls", len(data))
	}

	out, err := runFilter(t, e, []string{"suggest", "--since", "1h", "--state-dir", state})
	if err != nil {
		t.Fatalf("suggest: %v\n%s", err, out)
	}
	suggested := writePolicy(t, shortTempDir(t), out)
	if check, err := runFilter(t, e, []string{"check", "--policy", suggested}); err != nil || !strings.Contains(check, "OK") {
		t.Fatalf("check of the suggestion: %v\n%s\n%s", err, check, out)
	}
	for _, want := range []string{"default: none", bindDir, "user: non-root", "ContainerExec", "uid-4401", "uid-4402"} {
		if !strings.Contains(out, want) {
			t.Errorf("suggestion lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "4403") {
		t.Errorf("suggestion names the unlisted caller:\n%s", out)
	}

	f = startFilter(t, e, filterOpts{args: []string{"--policy", suggested, "--listen-mode", "0666"}})
	runPeers(t, f.sock, alice, true)
	runPeers(t, f.sock, bob, true)
	replay(t, f.sock, traefik, id)
	runPeers(t, f.sock, []peerRun{
		{4401, []string{"network", "ls"}},                                 // bob's
		{4402, []string{"ps"}},                                            // alice's
		{4401, []string{"rm", "-f", name}},                                // nobody's
		{4401, []string{"run", "--rm", "-v", "/etc:/x", e.image, "true"}}, // a bind never seen
		{4403, []string{"ps"}},                                            // unlisted
	}, false)
	if t.Failed() {
		t.Logf("suggestion:\n%s", out)
	}
}

// TestLearnFallbackDeny observes without forwarding: nothing a profile
// denies reaches the engine, and it is recorded.
func TestLearnFallbackDeny(t *testing.T) {
	e := testEnv(t)
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e6)
	state := shortTempDir(t)
	policy := writePolicy(t, shortTempDir(t), `profiles:
  start:
    allow: [SystemPing]
  creator:
    allow: [SystemPing, ContainerCreate]
clients:
  - user: 4411
    profile: start
  - user: 4412
    profile: creator
default: none
`)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy, "--listen-mode", "0666", "--learn=deny", "--state-dir", state}})
	names := []string{"dsf-learn-deny-a-" + suffix, "dsf-learn-deny-b-" + suffix, "dsf-learn-deny-c-" + suffix}
	for _, n := range names {
		t.Cleanup(func() { cli(t, e.engineHost, nil, "rm", "-f", n) })
	}
	runPeers(t, f.sock, []peerRun{
		{4411, []string{"create", "--name", names[0], e.image, "true"}},                  // not granted
		{4412, []string{"create", "--name", names[1], "-v", "/etc:/x", e.image, "true"}}, // a body rule
		{4413, []string{"create", "--name", names[2], e.image, "true"}},                  // unlisted
	}, false)
	for _, n := range names {
		if _, _, err := cli(t, e.engineHost, nil, "inspect", n); err == nil {
			t.Errorf("container %s exists: learn mode deny forwarded a denied create", n)
		}
	}
	f.signal(syscall.SIGTERM)
	if err := f.wait(t); err != nil {
		t.Fatalf("filter exit: %v", err)
	}
	recs, data := readRecords(t, state)
	if recs.count(4411, "ContainerCreate") == 0 || recs.count(4412, "ContainerCreate") == 0 {
		t.Errorf("denied creates not recorded:\n%s", data)
	}
	for _, c := range recs.Callers {
		if c.UID == 4413 {
			t.Errorf("unlisted caller recorded without --learn-default:\n%s", data)
		}
		if op, ok := c.Ops["ContainerCreate"]; ok && (op.Denied != op.Count || len(op.WouldDeny) == 0) {
			t.Errorf("uid %d: ContainerCreate %+v, want every call denied and its would-deny step", c.UID, op)
		}
	}
}
