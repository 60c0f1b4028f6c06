package filter

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// engineAPIModule is the module whose swagger.yaml is the Engine API
// reference the route table mirrors.
const engineAPIModule = "github.com/moby/moby/api"

// routesNotInSpec are routes the engine serves but its reference omits.
var routesNotInSpec = map[string]string{
	"POST /grpc": "Grpc",
}

func newTable(t testing.TB) *RouteTable {
	t.Helper()
	table, err := NewRouteTable()
	if err != nil {
		t.Fatalf("NewRouteTable: %v", err)
	}
	return table
}

// splitPath splits an unversioned canonical path into segments.
func splitPath(p string) []string {
	return strings.Split(strings.TrimPrefix(p, "/"), "/")
}

// normTemplate replaces every parameter ({id}, {name}, {name*}) by "{}".
func normTemplate(tmpl string) string {
	segs := splitPath(tmpl)
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = "{}"
		}
	}
	return "/" + strings.Join(segs, "/")
}

// engineSpecPath finds swagger.yaml in the module cache, downloading the
// module go.mod names if it is not there yet.
func engineSpecPath(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", engineAPIModule).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v (the module must be required in go.mod)", engineAPIModule, errOutput(err))
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		// Required but not in the module cache yet.
		out, err = exec.Command("go", "mod", "download", "-json", engineAPIModule).Output()
		if err != nil {
			t.Fatalf("go mod download %s: %v", engineAPIModule, errOutput(err))
		}
		var info struct{ Dir string }
		if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
			t.Fatalf("go mod download %s: no Dir in %q (%v)", engineAPIModule, out, err)
		}
		dir = info.Dir
	}
	return filepath.Join(dir, "swagger.yaml")
}

func errOutput(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return err.Error() + ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return err.Error()
}

type specRoute struct {
	method, path, op string
	// query names the operation's query parameters; body says whether
	// it takes a body parameter.
	query []string
	body  bool
	// answer is the schema of its 200 answer, or nil.
	answer any
}

type engineSpec struct {
	version     string
	routes      []specRoute
	definitions map[string]any
}

func loadSpec(t *testing.T) *engineSpec {
	t.Helper()
	path := engineSpecPath(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the Engine API spec: %v", err)
	}
	var doc struct {
		Info struct {
			Version string `yaml:"version"`
		} `yaml:"info"`
		Paths       map[string]map[string]yaml.Node `yaml:"paths"`
		Definitions map[string]any                  `yaml:"definitions"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(doc.Paths) == 0 || len(doc.Definitions) == 0 {
		t.Fatalf("%s: no paths or no definitions", path)
	}
	spec := &engineSpec{version: doc.Info.Version, definitions: doc.Definitions}
	for p, methods := range doc.Paths {
		for m, node := range methods {
			switch m {
			case "get", "post", "put", "delete", "head":
			default:
				continue // path-level parameters and the like
			}
			var op struct {
				OperationID string `yaml:"operationId"`
				Parameters  []struct {
					Name string `yaml:"name"`
					In   string `yaml:"in"`
				} `yaml:"parameters"`
				Responses map[string]struct {
					Schema any `yaml:"schema"`
				} `yaml:"responses"`
			}
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s: %s %s: %v", path, m, p, err)
			}
			if op.OperationID == "" {
				continue
			}
			r := specRoute{method: strings.ToUpper(m), path: p, op: op.OperationID, answer: op.Responses["200"].Schema}
			for _, prm := range op.Parameters {
				switch prm.In {
				case "query":
					r.query = append(r.query, prm.Name)
				case "body":
					r.body = true
				}
			}
			spec.routes = append(spec.routes, r)
		}
	}
	return spec
}

func TestRouteTableMatchesEngineSpec(t *testing.T) {
	engine := loadSpec(t)
	version, spec := engine.version, engine.routes
	table := newTable(t)

	// The table documents the API version it follows.
	if version != "1.56" {
		t.Errorf("spec is API version %q; the route table follows 1.56: update engineRoutes and this check together", version)
	}

	type key struct{ method, tmpl string }
	ours := make(map[key]Route)
	for _, r := range table.Routes() {
		k := key{r.Method, normTemplate(r.Template)}
		if prev, dup := ours[k]; dup {
			t.Errorf("route table: %s %s is both %s and %s", r.Method, r.Template, prev.Operation, r.Operation)
		}
		ours[k] = r
	}

	var problems []string
	inSpec := make(map[key]bool)
	for _, s := range spec {
		k := key{s.method, normTemplate(s.path)}
		inSpec[k] = true
		r, ok := ours[k]
		switch {
		case !ok:
			problems = append(problems, "missing from the table: "+s.method+" "+s.path+" "+s.op)
		case r.Operation != s.op:
			problems = append(problems, "misnamed: "+s.method+" "+s.path+" is "+r.Operation+" in the table, "+s.op+" in the spec")
		}
		// Only references that may contain '/' span segments.
		if ok {
			first := splitPath(s.path)[0]
			wantMulti := strings.Contains(s.path, "{name}") &&
				(first == "images" || first == "plugins" || first == "distribution")
			if gotMulti := strings.Contains(r.Template, "*}"); gotMulti != wantMulti {
				problems = append(problems, "parameter form: "+s.method+" "+s.path+" is "+r.Template+" in the table")
			}
		}
		if got := table.Operation(s.op); got == nil || got.Method != s.method || normTemplate(got.Template) != normTemplate(s.path) {
			problems = append(problems, "Operation("+s.op+") does not return "+s.method+" "+s.path)
		}
	}
	for k, r := range ours {
		if inSpec[k] {
			continue
		}
		if op, ok := routesNotInSpec[r.Method+" "+r.Template]; ok && op == r.Operation {
			continue
		}
		problems = append(problems, "not in the spec: "+r.Method+" "+r.Template+" "+r.Operation)
	}
	for want, op := range routesNotInSpec {
		method, tmpl, _ := strings.Cut(want, " ")
		if r, ok := ours[key{method, normTemplate(tmpl)}]; !ok || r.Operation != op {
			problems = append(problems, "allowlisted route missing from the table: "+want+" "+op)
		}
	}
	if len(spec)+len(routesNotInSpec) != len(table.Routes()) {
		problems = append(problems, "table has a different number of routes than the spec plus the allowlist")
	}
	slices.Sort(problems)
	if len(problems) > 0 {
		t.Errorf("route table and Engine API spec disagree (%d):\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
}

func TestRouteSections(t *testing.T) {
	table := newTable(t)
	for _, r := range table.Routes() {
		first := strings.TrimPrefix(splitPath(r.Template)[0], "_")
		if r.Section != first {
			t.Errorf("%s %s (%s): section %q, want %q (its first path segment)", r.Method, r.Template, r.Operation, r.Section, first)
		}
		if !slices.Contains(Sections(), r.Section) {
			t.Errorf("%s: section %q is not in Sections()", r.Operation, r.Section)
		}
	}
}

func TestMatch(t *testing.T) {
	table := newTable(t)
	tests := []struct {
		method, path, want string
	}{
		{"HEAD", "/_ping", "SystemPingHead"},
		{"GET", "/_ping", "SystemPing"},
		{"HEAD", "/containers/x/json", "ContainerInspect"}, // HEAD falls back to GET
		{"HEAD", "/containers/x/archive", "ContainerArchiveInfo"},
		{"GET", "/containers/x/archive", "ContainerArchive"},
		{"PUT", "/containers/x/archive", "PutContainerArchive"},
		{"GET", "/containers/json", "ContainerList"},
		{"GET", "/containers/json/json", "ContainerInspect"},
		{"GET", "/containers/a/b/json", ""}, // container ids are one segment
		{"GET", "/containers/x", ""},
		{"DELETE", "/containers/x", "ContainerDelete"},
		{"DELETE", "/containers/a/b", ""},
		{"POST", "/containers/create", "ContainerCreate"},
		{"POST", "/containers/x/exec", "ContainerExec"},
		{"GET", "/images/json", "ImageList"},
		{"GET", "/images/library/busybox/json", "ImageInspect"},
		{"GET", "/images/json/json", "ImageInspect"},
		{"DELETE", "/images/library/busybox:latest", "ImageDelete"},
		{"GET", "/images/get", "ImageGetAll"},
		{"GET", "/images/foo/get", "ImageGet"},
		{"GET", "/images/search", "ImageSearch"},
		{"GET", "/images/foo", ""},
		{"GET", "/images/foo/json/history", "ImageHistory"},
		{"POST", "/images/a/b/c/push", "ImagePush"},
		{"POST", "/images/a/b/c/tag", "ImageTag"},
		{"GET", "/containers/x/attach/ws", "ContainerAttachWebsocket"},
		{"POST", "/containers/x/attach", "ContainerAttach"},
		{"POST", "/exec/abc/start", "ExecStart"},
		{"GET", "/exec/abc/json", "ExecInspect"},
		{"OPTIONS", "/_ping", ""},
		{"get", "/_ping", ""},
		{"get", "/containers/json", ""},
		{"PATCH", "/containers/x/update", ""},
		{"GET", "/nothing", ""},
		{"GET", "/", ""},
		{"POST", "/grpc", "Grpc"},
		{"POST", "/session", "Session"},
		{"GET", "/plugins/privileges", "GetPluginPrivileges"},
		{"GET", "/plugins/vieux/sshfs:latest/json", "PluginInspect"},
		{"DELETE", "/plugins/vieux/sshfs:latest", "PluginDelete"},
		{"GET", "/distribution/reg:5000/a/b/json", "DistributionInspect"},
		{"GET", "/distribution/json", ""},
		{"GET", "/volumes/v", "VolumeInspect"},
		{"GET", "/volumes/a/b", ""},
		{"GET", "/system/df", "SystemDataUsage"},
		{"GET", "/version/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := table.Match(tt.method, splitPath(tt.path))
			got := ""
			if r != nil {
				got = r.Operation
			}
			if got != tt.want {
				t.Errorf("Match(%q, %q) = %q, want %q", tt.method, tt.path, got, tt.want)
			}
		})
	}
	if r := table.Match("GET", nil); r != nil {
		t.Errorf("Match with no segments = %s, want nil", r.Operation)
	}
}

func TestSensitiveNeverInGroups(t *testing.T) {
	table := newTable(t)
	for _, op := range []string{"ContainerArchive", "ContainerArchiveInfo", "ContainerExport", "ContainerAttachWebsocket", "ImageGet", "ImageGetAll", "ImagePush", "PluginPush", "SwarmInspect", "SwarmUnlockkey"} {
		r := table.Operation(op)
		if r == nil {
			t.Errorf("%s: not in the table", op)
			continue
		}
		if r.Grant != GrantSensitive {
			t.Errorf("%s: grant %d, want GrantSensitive", op, r.Grant)
		}
		// Only their own id grants them.
		ops, err := table.Expand(op)
		if err != nil || !slices.Equal(ops, []string{op}) {
			t.Errorf("Expand(%q) = %v, %v; want [%s]", op, ops, err, op)
		}
	}
	for _, s := range Sections() {
		for _, entry := range []string{s, s + ":read", s + ":write"} {
			ops, err := table.Expand(entry)
			if err != nil {
				t.Errorf("Expand(%q): %v", entry, err)
				continue
			}
			for _, op := range ops {
				r := table.Operation(op)
				switch {
				case r == nil:
					t.Errorf("Expand(%q) returned %q, not in the table", entry, op)
				case r.Grant == GrantSensitive:
					t.Errorf("Expand(%q) returned sensitive %s", entry, op)
				case r.Grant == GrantOwnID:
					t.Errorf("Expand(%q) returned own-id %s", entry, op)
				case r.Section != s:
					t.Errorf("Expand(%q) returned %s of section %s", entry, op, r.Section)
				case strings.HasSuffix(entry, ":read") && r.IsWrite():
					t.Errorf("Expand(%q) returned write %s", entry, op)
				case strings.HasSuffix(entry, ":write") && !r.IsWrite():
					t.Errorf("Expand(%q) returned read %s", entry, op)
				}
			}
		}
		// The whole section is its reads plus its writes, minus the
		// sensitive and explicit operations.
		all, _ := table.Expand(s)
		var want []string
		for _, r := range table.Routes() {
			if r.Section == s && r.Grant == GrantGroup {
				want = append(want, r.Operation)
			}
		}
		slices.Sort(all)
		slices.Sort(want)
		if !slices.Equal(all, want) {
			t.Errorf("Expand(%q) = %v, want %v", s, all, want)
		}
	}
	for _, bad := range []string{"containers:exec", "nosuchthing", "", "containers:", ":read", "Containers", "containerlist", "ContainerList:read"} {
		if ops, err := table.Expand(bad); err == nil {
			t.Errorf("Expand(%q) = %v, want an error", bad, ops)
		}
	}
}

// A path two routes would both claim matches neither: the filter does not
// guess which one the engine would pick.
func TestMatchAmbiguousMatchesNothing(t *testing.T) {
	routes := []Route{
		{Method: "GET", Template: "/things/{name*}/json", Operation: "ThingInspect", Section: "things"},
		{Method: "GET", Template: "/things/{id}/{x}", Operation: "ThingAny", Section: "things"},
		{Method: "GET", Template: "/things/list", Operation: "ThingList", Section: "things"},
	}
	table := &RouteTable{routes: routes, byFirst: make(map[string][]*Route), byOp: make(map[string]*Route)}
	for i := range table.routes {
		r := &table.routes[i]
		if err := r.compile(); err != nil {
			t.Fatal(err)
		}
		table.byOp[r.Operation] = r
		table.byFirst["GET things"] = append(table.byFirst["GET things"], r)
	}
	for _, tt := range []struct{ path, want string }{
		{"/things/a/json", ""}, // both ThingInspect and ThingAny
		{"/things/a/b/json", "ThingInspect"},
		{"/things/a/top", "ThingAny"},
		{"/things/list", "ThingList"},
	} {
		got := ""
		if r := table.Match("GET", splitPath(tt.path)); r != nil {
			got = r.Operation
		}
		if got != tt.want {
			t.Errorf("Match(GET, %s) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// Every route matches its own template filled in with sample parameters,
// including ones that spell other routes' literals: no two routes of the
// engine's table claim the same path.
func TestNoAmbiguousRoutes(t *testing.T) {
	table := newTable(t)
	for _, r := range table.Routes() {
		for _, param := range []string{"x", "a/b", "json", "get", "create", "prune", "privileges", "library/json"} {
			segs := splitPath(r.Template)
			var path []string
			for _, s := range segs {
				switch {
				case strings.HasSuffix(s, "*}"):
					path = append(path, splitPath(param)...)
				case strings.HasPrefix(s, "{"):
					path = append(path, splitPath(param)[0])
				default:
					path = append(path, s)
				}
			}
			got := table.Match(r.Method, path)
			if got == nil || got.Operation != r.Operation {
				t.Errorf("Match(%s, /%s) = %v, want %s", r.Method, strings.Join(path, "/"), got, r.Operation)
			}
		}
	}
}

func TestExplicitOperations(t *testing.T) {
	table := newTable(t)
	for _, op := range []string{"ContainerUpdate", "ServiceCreate", "ServiceUpdate", "PluginPull", "PluginSet", "PluginUpgrade", "PluginCreate",
		"SwarmInit", "SwarmJoin", "SwarmUpdate", "Session", "Grpc"} {
		r := table.Operation(op)
		if r == nil || r.Grant != GrantOwnID {
			t.Errorf("%s is not granted by its own id only", op)
			continue
		}
		if ops, err := table.Expand(op); err != nil || !slices.Equal(ops, []string{op}) {
			t.Errorf("Expand(%q) = %v, %v", op, ops, err)
		}
	}
}
