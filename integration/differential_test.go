package integration

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

// TestFilterAndEngineAgreeOnOperations sends paths of many shapes to the
// engine directly and checks that whenever the filter names an operation
// for a path, the engine routed it to that operation: each operation's
// answer for a missing object has its own wording, naming the object the
// filter saw. Paths the filter does not name are denied, whatever the
// engine would do with them.
func TestFilterAndEngineAgreeOnOperations(t *testing.T) {
	e := testEnv(t)
	table, err := filter.NewRouteTable()
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, r := range table.Routes() {
		all = append(all, r.Operation)
	}
	prof, err := filter.NewProfile(table, "all", all)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := filter.NewPolicy(table, []*filter.Profile{prof}, nil, "all")
	if err != nil {
		t.Fatal(err)
	}
	// How the engine answers each operation, %s being the object name.
	answers := map[string]string{
		"ContainerInspect": `No such container: %s"`, "ContainerTop": `No such container: %s"`,
		"ContainerLogs": `No such container: %s"`, "ContainerChanges": `No such container: %s"`,
		"ContainerStats": `No such container: %s"`, "ContainerExport": `No such container: %s"`,
		"ContainerAttachWebsocket": `No such container: %s"`, "ContainerArchive": `No such container: %s"`,
		"ImageInspect": `[Nn]o such image: %s`, "ImageHistory": `No such image: %s`,
		"NetworkInspect": `network %s not found`, "VolumeInspect": `get %s: no such volume`,
		"ExecInspect": `No such exec instance: %s"`, "PluginInspect": `plugin \\"%s\\" not found`,
		"ContainerList": `^\[`, "ImageList": `^\[`, "NetworkList": `^\[`, "SystemPing": `^OK$`,
		"SystemVersion": `"ApiVersion":"1\.41"`, "SystemInfo": `"ServerVersion"`, "VolumeList": `"Volumes"`,
	}
	paths := []struct{ path, object string }{
		{"/containers/json", ""}, {"/v1.41/containers/json", ""}, {"/v1.30/containers/json", ""},
		{"/containers/zz1/json", "zz1"}, {"/v1.41/containers/json/json", "json"},
		{"/v1.41/containers/create/json", "create"}, {"/v1.41/containers/zz2/top", "zz2"},
		{"/v1.41/containers/zz3/logs?stdout=1", "zz3"}, {"/v1.41/containers/zz4/changes", "zz4"},
		{"/v1.41/containers/zz5/stats?stream=0", "zz5"}, {"/v1.41/containers/zz6/export", "zz6"},
		{"/v1.41/containers/zz7/attach/ws", "zz7"}, {"/v1.41/containers/zz8/archive?path=/", "zz8"},
		{"/v1.41/containers/a/b/json", ""}, {"/v1.41/containers/zz9/json/top", ""},
		{"/v1.41/images/json", ""}, {"/v1.41/images/img1/json", "img1"},
		{"/v1.41/images/lib/img2/json", "lib/img2"}, {"/v1.41/images/reg:5000/lib/img3/json", "reg:5000/lib/img3"},
		{"/v1.41/images/a/json/json", "a/json"}, {"/v1.41/images/json/history", "json"},
		{"/v1.41/images/x/history/json", "x/history"}, {"/v1.41/images/img4@sha256:" + strings.Repeat("a", 64) + "/json", "img4@sha256:" + strings.Repeat("a", 64)},
		{"/v1.41/networks", ""}, {"/v1.41/networks/net1", "net1"}, {"/v1.41/networks/net1/x", ""},
		{"/v1.41/volumes", ""}, {"/v1.41/volumes/vol1", "vol1"}, {"/v1.41/volumes/create", "create"},
		{"/v1.41/exec/ex1/json", "ex1"}, {"/v1.41/plugins/vieux/sshfs:latest/json", "vieux/sshfs:latest"},
		{"/v1.41/_ping", ""}, {"/_ping", ""}, {"/v1.41/version", ""}, {"/v1.41/info", ""},
		{"/v1.41/_ping/x", ""}, {"/v1.41/info/json", ""},
	}
	checked := 0
	for _, p := range paths {
		t.Run(p.path, func(t *testing.T) {
			pathOnly, rawQuery, _ := strings.Cut(p.path, "?")
			// Only the operation matters here: a decision still pending
			// (on the target container's inspect) has named it.
			d := policy.Decide(filter.Caller{Known: true}, &filter.Request{Method: "GET", EscapedPath: pathOnly, RawQuery: rawQuery})
			status, body := get(t, e.engineSock, p.path)
			if d.Verdict == filter.Deny {
				if d.Route != nil {
					t.Fatalf("allow-all policy denied a named operation at %s: %s", d.Step, d.Reason)
				}
				return // not named: the filter denies it, whatever the engine does
			}
			pattern, ok := answers[d.Route.Operation]
			if !ok {
				t.Fatalf("no known answer for %s", d.Route.Operation)
			}
			if strings.Contains(pattern, "%s") {
				pattern = fmt.Sprintf(pattern, regexp.QuoteMeta(p.object))
			}
			if !regexp.MustCompile(pattern).MatchString(body) {
				t.Errorf("filter says %s on %q; the engine answered %d %q", d.Route.Operation, p.object, status, body)
			}
			checked++
		})
	}
	if checked < 25 {
		t.Errorf("only %d paths were named by the filter and compared", checked)
	}
}
