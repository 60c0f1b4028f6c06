package learn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-socket-filter/docker-socket-filter/config"
	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

// ids resolves names as numbers only: the tests' callers have no names.
type ids struct{}

func (ids) LookupUser(name string) (uint32, error)  { return 0, fmt.Errorf("no user %q", name) }
func (ids) LookupGroup(name string) (uint32, error) { return 0, fmt.Errorf("no group %q", name) }

type call struct {
	method, target, body string
}

// secret is planted in bodies and headers: no record may hold it.
const secret = "s3cr3t-Planted-Value"

func request(c call) *filter.Request {
	p, q, _ := strings.Cut(c.target, "?")
	r := &filter.Request{Method: c.method, EscapedPath: p, RawQuery: q, ContentLength: int64(len(c.body)), BodyLimit: 1 << 20}
	if c.body != "" {
		r.ContentTypes = []string{"application/json"}
	}
	return r
}

// settle decides as the proxy does, answering lookups as a host where
// every path resolves to itself, no object exists and cgroups are v2.
func settle(t *testing.T, p *filter.Policy, caller filter.Caller, c call) (*filter.Request, filter.Decision) {
	t.Helper()
	req := request(c)
	d := p.Decide(caller, req)
	for round := 0; d.Verdict == filter.Pending; round++ {
		if round > 6 {
			t.Fatalf("%s %s: does not settle", c.method, c.target)
		}
		if d.NeedBody {
			req.Body = []byte(c.body)
		}
		if req.Facts == nil {
			req.Facts = filter.Facts{}
		}
		for _, l := range d.Lookups {
			switch l.Kind {
			case filter.LookupHostPath:
				req.Facts[l] = filter.Fact{Path: l.Ref}
			case filter.LookupEngine:
				req.Facts[l] = filter.Fact{Engine: &filter.EngineFact{CgroupVersion: "2"}}
			default:
				req.Facts[l] = filter.Fact{Missing: true}
			}
		}
		d = p.Decide(caller, req)
	}
	return req, d
}

func loadPolicy(t *testing.T, text string) *filter.Policy {
	t.Helper()
	table, err := filter.NewRouteTable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse("policy", []byte(text), table, ids{})
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return f.Policy
}

func caller(uid uint32) filter.Caller {
	return filter.Caller{Known: true, Peer: filter.Peer{UID: uid, GID: uid}}
}

var (
	webCalls = []call{
		{"GET", "/_ping", ""},
		{"GET", "/v1.47/containers/json?all=1", ""},
		{"GET", "/v1.47/images/json", ""},
		{"POST", "/v1.47/containers/create?name=web", `{"Image":"busybox:latest","User":"1000:1000","Env":["TOKEN=` + secret + `"],"Labels":{"k":"` + secret + `"},"Cmd":["sh","-c","echo ` + secret + `"],"HostConfig":{"Binds":["/srv/web:/data:ro"],"SecurityOpt":["no-new-privileges"],"CapAdd":["NET_BIND_SERVICE"]}}`},
	}
	opsCalls = []call{
		{"GET", "/v1.47/info", ""},
		{"GET", "/v1.47/version", ""},
		{"POST", "/v1.47/containers/create", `{"Image":"alpine","HostConfig":{"PidMode":"host","Privileged":true}}`},
		{"POST", "/v1.47/images/create?fromImage=registry.example.com%2Fapp&tag=1", ""},
	}
)

func record(t *testing.T, r *Recorder, p *filter.Policy, uid uint32, calls []call) {
	t.Helper()
	for _, c := range calls {
		req, d := settle(t, p, caller(uid), c)
		if !d.Allowed() {
			t.Fatalf("learning: %s %s denied: %s", c.method, c.target, d.Reason)
		}
		r.Record(caller(uid), req, &d)
	}
}

const learning = "profiles:\n  web:\n    allow: [SystemPing]\n    learn: allow\nclients:\n  - user: 1000\n    profile: web\n  - user: 2000\n    profile: none\n    learn: allow\ndefault: none\n"

// Everything the callers did passes the suggestion in force; what
// neither did is denied.
func TestSuggestRoundTrip(t *testing.T) {
	p := loadPolicy(t, learning)
	r := NewRecorder(nil, Options{})
	record(t, r, p, 1000, webCalls)
	record(t, r, p, 2000, opsCalls)
	state, _ := r.Snapshot(true)
	table := p.Table()
	out, err := Suggest(state, table, SuggestOptions{Source: "test", Resolver: ids{}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"uid-1000:", "uid-2000:", "default: none", "bind_sources:", "/srv/web", "user: non-root",
		"NET_BIND_SERVICE", "host_namespaces: true", "privileged: true", "remote_fetch: true", "named_volumes: false", "busybox:latest"} {
		if !strings.Contains(text, want) {
			t.Errorf("suggestion lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, secret) {
		t.Errorf("suggestion holds a body's value:\n%s", text)
	}
	inForce := loadPolicy(t, text)
	for uid, calls := range map[uint32][]call{1000: webCalls, 2000: opsCalls} {
		for _, c := range calls {
			if _, d := settle(t, inForce, caller(uid), c); !d.Allowed() || d.Learning() {
				t.Errorf("uid %d: %s %s in force: %s", uid, c.method, c.target, d.Reason)
			}
		}
	}
	denied := []struct {
		uid uint32
		c   call
	}{
		{1000, call{"GET", "/v1.47/info", ""}},              // the other caller's
		{1000, call{"DELETE", "/v1.47/containers/web", ""}}, // nobody's
		{2000, call{"GET", "/v1.47/containers/json", ""}},   // the other caller's
		{3000, call{"GET", "/_ping", ""}},                   // unlisted
		{1000, call{"POST", "/v1.47/containers/create", `{"Image":"busybox:latest","User":"1000:1000","HostConfig":{"Binds":["/etc:/etc"],"SecurityOpt":["no-new-privileges"]}}`}},
		{1000, call{"POST", "/v1.47/containers/create", `{"Image":"busybox:latest","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`}}, // root
	}
	for _, tt := range denied {
		if _, d := settle(t, inForce, caller(tt.uid), tt.c); d.Allowed() {
			t.Errorf("uid %d: %s %s %s allowed in force", tt.uid, tt.c.method, tt.c.target, tt.c.body)
		}
	}
}

func TestAllowGroups(t *testing.T) {
	table, err := filter.NewRouteTable()
	if err != nil {
		t.Fatal(err)
	}
	reads, _ := table.Expand("containers:read")
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	ops := map[string]*Op{}
	for _, op := range reads {
		ops[op] = &Op{Seen: Seen{1, now, now}}
	}
	ops["ContainerCreate"] = &Op{Seen: Seen{2, now, now}}
	ops["ContainerExec"] = &Op{Seen: Seen{2, now, now}} // sensitive: never by group
	tests := []struct {
		name string
		drop string
		want []string
	}{
		{"every read seen", "", []string{"containers:read", "ContainerCreate", "ContainerExec"}},
		{"one read missing", reads[0], append(append([]string{}, reads[1:]...), "ContainerCreate", "ContainerExec")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]*Op{}
			for k, v := range ops {
				if k != tt.drop {
					m[k] = v
				}
			}
			var got []string
			for _, e := range allowNode(table, m).Content {
				got = append(got, e.Value)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			seen := map[string]bool{}
			for _, g := range got {
				seen[g] = true
			}
			for _, w := range tt.want {
				if !seen[w] {
					t.Errorf("got %v, lacks %s", got, w)
				}
			}
		})
	}
}

func TestRequestFacts(t *testing.T) {
	p := loadPolicy(t, "profiles:\n  p:\n    allow: [SystemPing]\n    learn: allow\ndefault: p\n")
	tests := []struct {
		name string
		c    call
		want []string
	}{
		{"root create with a bind and a volume", call{"POST", "/containers/create", `{"Image":"nginx","HostConfig":{"Binds":["/srv/x/:/x","data:/d"]}}`},
			[]string{"image:nginx", factUserRoot, "bind:/srv/x", factNamedVolumes}},
		{"non-root without no-new-privileges is root", call{"POST", "/containers/create", `{"Image":"a","User":"1:1"}`},
			[]string{"image:a", factUserRoot}},
		{"mount, tmpfs, devices, sysctls", call{"POST", "/containers/create", `{"Image":"a","User":"1:1","HostConfig":{"SecurityOpt":["no-new-privileges:true"],"Mounts":[{"Type":"bind","Source":"/opt/m","Target":"/m"},{"Type":"tmpfs","Target":"/t"}],"Devices":[{"PathOnHost":"/dev/null"}],"Sysctls":{"net.x":"1"},"LogConfig":{"Type":"syslog"}}}`},
			[]string{"image:a", factUserNonRoot, "bind:/opt/m", factDevices, factSysctls, "log_driver:syslog"}},
		{"exec: the command path only", call{"POST", "/containers/c/exec", `{"Cmd":["/bin/echo","` + secret + `"],"User":"1:1"}`},
			[]string{factExecUserNonRoot, "exec.command:/bin/echo"}},
		{"exec with env: no command list", call{"POST", "/containers/c/exec", `{"Cmd":["/bin/echo"],"Env":["A=` + secret + `"],"Privileged":true}`},
			[]string{factExecPrivileged, factExecUserRoot, factExecAnyCommand}},
		{"volume binding a host path", call{"POST", "/volumes/create", `{"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/srv/v"}}`},
			[]string{"bind:/srv/v"}},
		{"pull from another registry", call{"POST", "/images/create?fromImage=ghcr.io%2Fa%2Fb", ""}, []string{factRemoteFetch}},
		{"pull from Docker Hub", call{"POST", "/images/create?fromImage=busybox", ""}, nil},
		{"build from a remote context", call{"POST", "/build?remote=https%3A%2F%2Fexample.com%2Fx.tar&version=2", ""}, []string{factRemoteFetch}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, d := settle(t, p, caller(1), tt.c)
			got := requestFacts(req, &d, nil)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("facts %q, want %q (decision %s: %s)", got, tt.want, d.Step, d.Reason)
			}
		})
	}
}

// The state file survives a save and load, holds no body value, and
// stays bounded however many callers and facts there are.
func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	p := loadPolicy(t, learning)
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	r := NewRecorder(nil, Options{Now: func() time.Time { return now }})
	record(t, r, p, 1000, webCalls)
	if err := r.Flush(dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(secret)) {
		t.Fatalf("the state file holds a planted value:\n%s", data)
	}
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	again := NewRecorder(loaded, Options{Now: func() time.Time { return now.Add(time.Hour) }})
	record(t, again, p, 1000, webCalls[:1])
	s, dirty := again.Snapshot(true)
	if !dirty || len(s.Callers) != 1 {
		t.Fatalf("dirty %v, callers %d", dirty, len(s.Callers))
	}
	ping := s.Callers[0].Ops["SystemPing"]
	if ping == nil || ping.Count != 2 || !ping.First.Equal(now) || !ping.Last.Equal(now.Add(time.Hour)) {
		t.Fatalf("SystemPing after reload: %+v", ping)
	}
	if _, dirty := again.Snapshot(true); dirty {
		t.Error("still dirty after a clean snapshot")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state dir holds %d files, want only %s", len(entries), StateFile)
	}

	// Bounds: more callers and facts than kept.
	big := NewRecorder(nil, Options{})
	prof := "profiles:\n  p:\n    allow: [SystemPing]\n    learn: allow\ndefault: p\n"
	bp := loadPolicy(t, prof)
	for uid := range uint32(MaxCallers + 20) {
		record(t, big, bp, uid+1, []call{{"GET", "/_ping", ""}})
	}
	for i := range MaxFacts + 20 {
		record(t, big, bp, 1, []call{{"POST", "/containers/create", fmt.Sprintf(`{"Image":"img%d"}`, i)}})
	}
	bs, _ := big.Snapshot(false)
	if len(bs.Callers) != MaxCallers || bs.DroppedCallers != 20 {
		t.Errorf("callers %d, dropped %d", len(bs.Callers), bs.DroppedCallers)
	}
	if n := len(bs.Callers[0].Facts); n != MaxFacts || bs.Callers[0].DroppedFacts == 0 {
		t.Errorf("facts %d, dropped %d", n, bs.Callers[0].DroppedFacts)
	}
	enc, _ := json.Marshal(bs)
	if len(enc) > 4<<20 {
		t.Errorf("records of %d bytes", len(enc))
	}
}

func TestSince(t *testing.T) {
	p := loadPolicy(t, learning)
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := now
	r := NewRecorder(nil, Options{Now: func() time.Time { return clock }})
	record(t, r, p, 1000, webCalls[:2])
	clock = now.Add(48 * time.Hour)
	record(t, r, p, 1000, webCalls[2:3])
	s, _ := r.Snapshot(false)
	out, err := Suggest(s, p.Table(), SuggestOptions{Since: now.Add(24 * time.Hour), Resolver: ids{}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "ImageList") || strings.Contains(string(out), "ContainerList") {
		t.Errorf("since: want only ImageList:\n%s", out)
	}
}

func TestMerge(t *testing.T) {
	existing := `# the admin's policy
profiles:
  web:
    allow: [SystemPing, ContainerList]   # kept
    create:
      bind_sources: [/srv/other]
clients:
  - user: 1000
    profile: web
  - user: 2000
    profile: none
default: none
`
	p := loadPolicy(t, learning)
	r := NewRecorder(nil, Options{})
	record(t, r, p, 1000, webCalls)
	record(t, r, p, 2000, opsCalls)
	s, _ := r.Snapshot(false)
	out, err := Merge(s, []byte(existing), "policy.yaml", p.Table(), SuggestOptions{Resolver: ids{}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"# the admin's policy", "# kept", "/srv/other", "/srv/web", "ImageList", "uid-2000"} {
		if !strings.Contains(text, want) {
			t.Errorf("merged policy lacks %q:\n%s", want, text)
		}
	}
	merged := loadPolicy(t, text)
	for uid, calls := range map[uint32][]call{1000: webCalls, 2000: opsCalls} {
		for _, c := range calls {
			if _, d := settle(t, merged, caller(uid), c); !d.Allowed() {
				t.Errorf("uid %d: %s %s denied in the merged policy: %s", uid, c.method, c.target, d.Reason)
			}
		}
	}
	// Not widened beyond the need: web still may not bind /etc.
	bad := call{"POST", "/containers/create", `{"Image":"busybox:latest","HostConfig":{"Binds":["/etc:/etc"]}}`}
	if _, d := settle(t, merged, caller(1000), bad); d.Allowed() {
		t.Error("merged policy lets web bind /etc")
	}
	// A second merge of the same records changes nothing more.
	twice, err := Merge(s, out, "merged.yaml", p.Table(), SuggestOptions{Resolver: ids{}})
	if err != nil {
		t.Fatal(err)
	}
	if string(twice) != text {
		t.Errorf("merging twice widened again:\n%s", twice)
	}
}

// TestSuggestNamesContainers: a caller the filter named by its container
// is suggested by that container, never by the uid its root could take;
// one in a container it could not name needs in_container.
func TestSuggestNamesContainers(t *testing.T) {
	p := loadPolicy(t, "profiles:\n  web:\n    allow: [SystemPing]\n    learn: allow\ndefault: web\n")
	r := NewRecorder(nil, Options{})
	traefik := caller(0)
	traefik.Contained = true
	traefik.Container = &filter.Container{ID: strings.Repeat("a", 64), Name: "traefik", Image: "traefik:v3.6",
		Labels: map[string]string{"com.docker.compose.service": "proxy"}}
	unnamed := caller(0)
	unnamed.Contained = true
	for _, c := range []filter.Caller{traefik, unnamed} {
		req, d := settle(t, p, c, call{"GET", "/v1.47/containers/json", ""})
		r.Record(c, req, &d)
	}
	state, _ := r.Snapshot(true)
	out, err := Suggest(state, p.Table(), SuggestOptions{Source: "test", Resolver: ids{}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"name: traefik", "label: com.docker.compose.service=proxy", "in_container: true"} {
		if !strings.Contains(text, want) {
			t.Errorf("suggestion lacks %q:\n%s", want, text)
		}
	}
	inForce := loadPolicy(t, text)
	if _, d := settle(t, inForce, traefik, call{"GET", "/v1.47/containers/json", ""}); !d.Allowed() {
		t.Errorf("the named container in force: %s", d.Reason)
	}
	// Without the unnamed one's entry (in_container widens a uid entry
	// to host processes too), the container's uid gives a host process
	// nothing.
	only := NewRecorder(nil, Options{})
	req, d := settle(t, p, traefik, call{"GET", "/v1.47/containers/json", ""})
	only.Record(traefik, req, &d)
	state, _ = only.Snapshot(true)
	out, err = Suggest(state, p.Table(), SuggestOptions{Source: "test", Resolver: ids{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, d := settle(t, loadPolicy(t, string(out)), caller(0), call{"GET", "/v1.47/containers/json", ""}); d.Allowed() {
		t.Errorf("a host process with the container's uid is allowed in force:\n%s", out)
	}
}
