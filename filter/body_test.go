package filter

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestDecodeBody(t *testing.T) {
	cases := []struct {
		name       string
		body       string
		wantErr    string // substring; empty for success
		privileged bool
	}{
		{"plain", `{"Image":"x","HostConfig":{"Privileged":true}}`, "", true},
		{"lower-case keys match like the engine", `{"image":"x","hostconfig":{"privileged":true}}`, "", true},
		{"escaped key", `{"Image":"x","HostConfig":{"Privil\u0065ged":true}}`, "", true},
		{"last duplicate wins", `{"Image":"x","HostConfig":{"Privileged":false,"Privileged":true}}`, "", true},
		{"case-variant duplicate", `{"Image":"x","HostConfig":{"Privileged":false,"privileged":true}}`, "differ only in case", false},
		{"case-variant duplicate objects", `{"Image":"x","HostConfig":{},"hostConfig":{"Privileged":true}}`, "differ only in case", false},
		{"unicode fold duplicate", "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[],\"Bind\u017f\":[\"/:/h\"]}}", "differ only in case", false},
		{"number for a boolean", `{"Image":"x","HostConfig":{"Privileged":1}}`, "cannot unmarshal", false},
		{"string for a boolean", `{"Image":"x","HostConfig":{"Privileged":"true"}}`, "cannot unmarshal", false},
		{"unknown field", `{"Image":"x","HostConfig":{"Capabilities":["ALL"]}}`, "unknown field", false},
		{"second value", `{"Image":"x"} {"HostConfig":{"Privileged":true}}`, "after the JSON value", false},
		{"trailing garbage", `{"Image":"x"}]`, "after the JSON value", false},
		{"empty", ``, "empty body", false},
		{"whitespace", " \n", "empty body", false},
		{"not JSON", `Image=x`, "not valid JSON", false},
		{"truncated", `{"Image":"x","HostConfig":{"Privileged":true}`, "not valid JSON", false},
		{"too deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), "nested deeper", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var req container.CreateRequest
			err := DecodeBody([]byte(c.body), &req)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("DecodeBody: %v", err)
				}
				if got := req.HostConfig != nil && req.HostConfig.Privileged; got != c.privileged {
					t.Errorf("privileged = %v, want %v", got, c.privileged)
				}
				return
			}
			if err == nil {
				t.Fatalf("DecodeBody accepted %q", c.body)
			}
			if !errors.Is(err, ErrBody) {
				t.Errorf("error %v does not wrap ErrBody", err)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, c.wantErr)
			}
		})
	}
}

// ciWorld is a host where /srv/ci/link is a symbolic link to /etc, with
// networks and volumes of every kind the rules tell apart.
func ciWorld() *world {
	return &world{
		links: map[string]string{"/srv/ci/link": "/etc"},
		networks: map[string]NetworkFact{
			"ovl":     {ID: fakeID("ovl"), Name: "ovl", Driver: "overlay"},
			"hostnet": {ID: fakeID("hostnet"), Name: "hostnet", Driver: "host"},
			"abc123":  {ID: fakeID("host"), Name: "host", Driver: "host"}, // the host network by an id prefix
		},
		volumes: map[string]VolumeFact{
			"plain": {Driver: "local"},
			"etc":   {Driver: "local", Options: map[string]string{"type": "none", "o": "bind", "device": "/etc"}},
			"job":   {Driver: "local", Options: map[string]string{"type": "none", "o": "bind", "device": "/srv/ci/job"}},
			"jobro": {Driver: "local", Options: map[string]string{"type": "none", "o": "bind,ro", "device": "/srv/ci/job"}},
			"nfs":   {Driver: "nfs", Options: map[string]string{"addr": "x"}},
		},
		secrets: map[string]SwarmObjectFact{
			"sdb":    {ID: "sdb", Name: "db"},
			"sother": {ID: "sother", Name: "other"},
			"db":     {ID: "sdb", Name: "db"}, // the engine's inspect finds a secret by name too
		},
		configs: map[string]SwarmObjectFact{"capp": {ID: "capp", Name: "app"}},
	}
}

// wantRefusal checks a settled decision: allowed when want is empty,
// else denied at step with status and a reason containing want.
func wantRefusal(t *testing.T, what string, d Decision, step Step, status int, want string) {
	t.Helper()
	if want == "" {
		if !d.Allowed() {
			t.Errorf("%s: denied at %s (%d): %s", what, d.Step, d.Status, d.Reason)
		}
		return
	}
	if d.Verdict != Deny || d.Step != step || d.Status != status || !strings.Contains(d.Reason, want) {
		t.Errorf("%s: verdict %d at %s (%d) %q, want denied at %s (%d) with %q", what, d.Verdict, d.Step, d.Status, d.Reason, step, status, want)
	}
}

func TestJudgeCreate(t *testing.T) {
	ci := CreateRules{BindSources: []string{"/srv/ci"}, NonRootUser: true, Images: []string{"dsf-test:*", "docker.io/library/*"}}
	safe := CreateRules{}
	loose := CreateRules{Privileged: true, HostNamespaces: true, CapAdd: []string{"NET_ADMIN"}, Devices: true,
		SecurityOpt: true, MaskedPaths: true, Sysctls: true, CgroupParent: true, Runtimes: []string{"runsc"},
		GroupAdd: true, VolumesFrom: true, BindSources: []string{"/"}, WritableBinds: true}
	binds := CreateRules{BindSources: []string{"/srv/ci"}}
	writer := CreateRules{BindSources: []string{"/srv/ci"}, WritableBinds: true}
	v1 := ciWorld()
	v1.cgroup = "1"
	cases := []struct {
		name  string
		rules CreateRules
		body  string
		want  string // refusal substring; empty to allow
		world *world // ciWorld() when nil
	}{
		{"plain create", safe, `{"Image":"x","Cmd":["true"]}`, "", nil},
		{"no host config", safe, `{"Image":"x"}`, "", nil},
		{"privileged", safe, `{"Image":"x","HostConfig":{"Privileged":true}}`, "privileged", nil},
		{"host bind", safe, `{"Image":"x","HostConfig":{"Binds":["/:/host"]}}`, "not under an allowed bind source", nil},
		{"named volume", safe, `{"Image":"x","HostConfig":{"Binds":["data:/data"]}}`, "", nil},
		{"named volume refused", CreateRules{NoNamedVolumes: true}, `{"Image":"x","HostConfig":{"Binds":["data:/data"]}}`, "named volume", nil},
		{"anonymous volume", safe, `{"Image":"x","HostConfig":{"Binds":["/data"]}}`, "", nil},
		{"bind mount", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/etc","Target":"/e"}]}}`, "not under", nil},
		{"volume mount with bind options", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/etc"}}}}]}}`, "not under", nil},
		{"volume mount other driver options", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"nfs","Options":{"addr":"x"}}}}]}}`, "volume driver", nil},
		{"tmpfs mount", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"tmpfs","Target":"/t"}]}}`, "", nil},
		{"npipe mount", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"npipe","Source":"x","Target":"/t"}]}}`, "mount type", nil},
		{"network host", safe, `{"Image":"x","HostConfig":{"NetworkMode":"host"}}`, "NetworkMode", nil},
		{"network of another container", safe, `{"Image":"x","HostConfig":{"NetworkMode":"container:abc"}}`, "NetworkMode", nil},
		{"pid host", safe, `{"Image":"x","HostConfig":{"PidMode":"host"}}`, "PidMode", nil},
		{"ipc container", safe, `{"Image":"x","HostConfig":{"IpcMode":"container:abc"}}`, "IpcMode", nil},
		{"uts host", safe, `{"Image":"x","HostConfig":{"UTSMode":"host"}}`, "UTSMode", nil},
		{"userns host", safe, `{"Image":"x","HostConfig":{"UsernsMode":"host"}}`, "UsernsMode", nil},
		{"cgroupns host", safe, `{"Image":"x","HostConfig":{"CgroupnsMode":"host"}}`, "CgroupnsMode", nil},
		{"network none and ipc shareable", safe, `{"Image":"x","HostConfig":{"NetworkMode":"none","IpcMode":"shareable"}}`, "", nil},
		{"cap add", safe, `{"Image":"x","HostConfig":{"CapAdd":["SYS_ADMIN"]}}`, "capability SYS_ADMIN", nil},
		{"cap add allowed", loose, `{"Image":"x","HostConfig":{"CapAdd":["CAP_NET_ADMIN"]}}`, "", nil},
		{"cap add other than allowed", loose, `{"Image":"x","HostConfig":{"CapAdd":["SYS_ADMIN"]}}`, "capability", nil},
		{"cap drop", safe, `{"Image":"x","HostConfig":{"CapDrop":["ALL"]}}`, "", nil},
		{"devices", safe, `{"Image":"x","HostConfig":{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]}}`, "devices", nil},
		{"device cgroup rules", safe, `{"Image":"x","HostConfig":{"DeviceCgroupRules":["a *:* rwm"]}}`, "devices", nil},
		{"device requests", safe, `{"Image":"x","HostConfig":{"DeviceRequests":[{"Count":-1}]}}`, "devices", nil},
		{"seccomp unconfined", safe, `{"Image":"x","HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}`, "security option", nil},
		{"apparmor unconfined", safe, `{"Image":"x","HostConfig":{"SecurityOpt":["apparmor=unconfined"]}}`, "security option", nil},
		{"label disable", safe, `{"Image":"x","HostConfig":{"SecurityOpt":["label=disable"]}}`, "security option", nil},
		{"no-new-privileges", safe, `{"Image":"x","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, "", nil},
		{"masked paths emptied", safe, `{"Image":"x","HostConfig":{"MaskedPaths":[]}}`, "masked", nil},
		{"readonly paths emptied", safe, `{"Image":"x","HostConfig":{"ReadonlyPaths":[]}}`, "masked", nil},
		{"sysctls", safe, `{"Image":"x","HostConfig":{"Sysctls":{"kernel.shm_rmid_forced":"1"}}}`, "sysctls", nil},
		{"cgroup parent", safe, `{"Image":"x","HostConfig":{"CgroupParent":"/"}}`, "cgroup parent", nil},
		{"runtime", safe, `{"Image":"x","HostConfig":{"Runtime":"runsc"}}`, "runtime", nil},
		{"group add", safe, `{"Image":"x","HostConfig":{"GroupAdd":["docker"]}}`, "groups", nil},
		{"volumes from", safe, `{"Image":"x","HostConfig":{"VolumesFrom":["other"]}}`, "volumes from", nil},
		{"everything loosened", loose, `{"Image":"x","HostConfig":{"Privileged":true,"Binds":["/:/h"],"PidMode":"host","Devices":[{"PathOnHost":"/dev/null"}],"SecurityOpt":["seccomp=unconfined"],"MaskedPaths":[],"Sysctls":{"a":"b"},"CgroupParent":"x","Runtime":"runsc","GroupAdd":["1"],"VolumesFrom":["o"]}}`, "", nil},
		{"ci: bind under /srv/ci", ci, `{"Image":"dsf-test:latest","User":"1000:1000","HostConfig":{"Binds":["/srv/ci/job1:/work:ro"],"SecurityOpt":["no-new-privileges"]}}`, "", nil},
		{"ci: bind is /srv/ci itself", ci, `{"Image":"dsf-test:latest","User":"1000:1000","HostConfig":{"Binds":["/srv/ci:/work:ro"],"SecurityOpt":["no-new-privileges"]}}`, "", nil},
		{"ci: dot-dot out of /srv/ci", ci, `{"Image":"dsf-test:latest","User":"1000:1000","HostConfig":{"Binds":["/srv/ci/../../etc:/work"],"SecurityOpt":["no-new-privileges"]}}`, "not clean", nil},
		{"ci: prefix is not a path prefix", ci, `{"Image":"dsf-test:latest","User":"1000:1000","HostConfig":{"Binds":["/srv/ci-other:/work"],"SecurityOpt":["no-new-privileges"]}}`, "not under", nil},
		{"ci: symbolic link out of /srv/ci", ci, `{"Image":"dsf-test:latest","User":"1000:1000","HostConfig":{"Binds":["/srv/ci/link/shadow:/work:ro"],"SecurityOpt":["no-new-privileges"]}}`, "resolves to /etc/shadow", nil},
		{"ci: root user", ci, `{"Image":"dsf-test:latest","User":"root","HostConfig":{}}`, "non-root", nil},
		{"ci: uid 0 with group", ci, `{"Image":"dsf-test:latest","User":"0:1000"}`, "non-root", nil},
		{"ci: image's own user", ci, `{"Image":"dsf-test:latest"}`, "non-root", nil},
		{"ci: image not allowed", ci, `{"Image":"evil/rootkit","User":"1000:1000"}`, "matches none", nil},
		{"ci: library image", ci, `{"Image":"docker.io/library/alpine","User":"1000:1000","HostConfig":{"SecurityOpt":["no-new-privileges:true"]}}`, "", nil},
		{"ci: non-root without no-new-privileges", ci, `{"Image":"dsf-test:latest","User":"1000:1000"}`, "no-new-privileges", nil},
		{"ci: signed zero", ci, `{"Image":"dsf-test:latest","User":"+0","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, "non-root", nil},
		{"ci: negative zero", ci, `{"Image":"dsf-test:latest","User":"-0","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, "non-root", nil},
		{"ci: leading zeros", ci, `{"Image":"dsf-test:latest","User":"00","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, "non-root", nil},
		{"ci: a name may be uid 0", ci, `{"Image":"dsf-test:latest","User":"ci","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, "non-root", nil},
		{"ci: gid 0", ci, `{"Image":"dsf-test:latest","User":"1000:0","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, "non-root", nil},
		{"ci: no-new-privileges turned off again", ci, `{"Image":"dsf-test:latest","User":"1000:1000","HostConfig":{"SecurityOpt":["no-new-privileges","no-new-privileges=false"]}}`, "no-new-privileges", nil},
		{"ci: no-new-privileges=1", ci, `{"Image":"dsf-test:latest","User":"1000:1000","HostConfig":{"SecurityOpt":["no-new-privileges=1"]}}`, "", nil},
		{"ci: uid and gid", ci, `{"Image":"dsf-test:latest","User":"1000:1000","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, "", nil},
		{"ci: uid alone takes the image's group", ci, `{"Image":"dsf-test:latest","User":"1000","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, "non-root", nil},
		{"ci: gid with leading zero", ci, `{"Image":"dsf-test:latest","User":"1000:01","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, "non-root", nil},
		{"ci: user name with group", ci, `{"Image":"dsf-test:latest","User":"ci:1000","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, "non-root", nil},
		{"host path with a dot segment", binds, `{"Image":"x","HostConfig":{"Binds":["/srv/ci/./job:/w"]}}`, "not clean", nil},
		{"host path with a double slash", binds, `{"Image":"x","HostConfig":{"Binds":["/srv//ci/job:/w"]}}`, "not clean", nil},
		{"host path ending in dot-dot", binds, `{"Image":"x","HostConfig":{"Binds":["/srv/ci/job/..:/w"]}}`, "not clean", nil},
		{"host path with one trailing slash", binds, `{"Image":"x","HostConfig":{"Binds":["/srv/ci/job/:/w:ro"]}}`, "", nil},
		{"host path with two trailing slashes", binds, `{"Image":"x","HostConfig":{"Binds":["/srv/ci/job//:/w"]}}`, "not clean", nil},
		{"bind mount not clean", binds, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/srv/ci/../etc","Target":"/e"}]}}`, "not clean", nil},
		{"bind mount through a link", binds, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/srv/ci/link","Target":"/e","ReadOnly":true}]}}`, "resolves to /etc", nil},
		{"overlay volume from host directories", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"overlay","device":"overlay","o":"lowerdir=/etc:/tmp"}}}}]}}`, "volume type", nil},
		{"proc volume", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"proc","device":"proc"}}}}]}}`, "volume type", nil},
		{"bind volume with other options", binds, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"bind,upperdir=/etc","device":"/srv/ci/x"}}}}]}}`, "bind volume option", nil},
		{"links", safe, `{"Image":"x","HostConfig":{"Links":["db:db"]}}`, "links", nil},
		{"syslog log driver", safe, `{"Image":"x","HostConfig":{"LogConfig":{"Type":"syslog","Config":{"syslog-address":"unix:///run/x.sock"}}}}`, "log driver", nil},
		{"journald log driver", safe, `{"Image":"x","HostConfig":{"LogConfig":{"Type":"journald"}}}`, "", nil},
		{"tmpfs volume", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"tmpfs","device":"tmpfs","o":"size=1m,uid=1000"}}}}]}}`, "", nil},

		// Named volumes are judged by how the engine created them.
		{"existing plain volume", safe, `{"Image":"x","HostConfig":{"Binds":["plain:/v"]}}`, "", nil},
		{"existing volume binding /etc", binds, `{"Image":"x","HostConfig":{"Binds":["etc:/v"]}}`, "/etc is not under", nil},
		{"existing volume binding under bind sources", binds, `{"Image":"x","HostConfig":{"Binds":["job:/v:ro"]}}`, "", nil},
		{"existing volume of another driver with options", safe, `{"Image":"x","HostConfig":{"Binds":["nfs:/v"]}}`, "volume driver", nil},
		{"volume mount of an existing bind volume", binds, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"etc","Target":"/v"}]}}`, "not under", nil},
		{"volume name that reads as a path", safe, `{"Image":"x","HostConfig":{"Binds":["..:/v"]}}`, "not a name", nil},

		// Host binds are read-only unless writable_binds; then they may
		// not restart unseen.
		{"writable bind", binds, `{"Image":"x","HostConfig":{"Binds":["/srv/ci/job:/w"]}}`, "writable_binds", nil},
		{"bind said rw", binds, `{"Image":"x","HostConfig":{"Binds":["/srv/ci/job:/w:rw"]}}`, "writable_binds", nil},
		{"bind with other options only", binds, `{"Image":"x","HostConfig":{"Binds":["/srv/ci/job:/w:z"]}}`, "writable_binds", nil},
		{"read-only bind with options", binds, `{"Image":"x","HostConfig":{"Binds":["/srv/ci/job:/w:ro,rprivate"]}}`, "", nil},
		{"writable bind mount", binds, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/srv/ci/job","Target":"/w"}]}}`, "writable_binds", nil},
		{"read-only bind mount", binds, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/srv/ci/job","Target":"/w","ReadOnly":true}]}}`, "", nil},
		{"non-recursive read-only bind mount", binds, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/srv/ci/job","Target":"/w","ReadOnly":true,"BindOptions":{"ReadOnlyNonRecursive":true}}]}}`, "writable_binds", nil},
		{"writable bind volume by name", binds, `{"Image":"x","HostConfig":{"Binds":["job:/v"]}}`, "volume job (device /srv/ci/job)", nil},
		{"bind volume read-only by its options", binds, `{"Image":"x","HostConfig":{"Binds":["jobro:/v"]}}`, "", nil},
		{"writable bind volume mount with options", binds, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"new","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"bind","device":"/srv/ci/x"}}}}]}}`, "writable_binds", nil},
		{"read-only bind volume mount with options", binds, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"new","Target":"/v","ReadOnly":true,"VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"bind","device":"/srv/ci/x"}}}}]}}`, "", nil},
		{"writable plain volume", binds, `{"Image":"x","HostConfig":{"Binds":["plain:/v"],"RestartPolicy":{"Name":"always"}}}`, "", nil},
		{"read-only bind with a restart policy", binds, `{"Image":"x","HostConfig":{"Binds":["/srv/ci/job:/w:ro"],"RestartPolicy":{"Name":"always"}}}`, "", nil},
		{"writable binds allowed", writer, `{"Image":"x","HostConfig":{"Binds":["/srv/ci/job:/w"],"RestartPolicy":{"Name":"no"}}}`, "", nil},
		{"writable bind restarting on failure", writer, `{"Image":"x","HostConfig":{"Binds":["/srv/ci/job:/w"],"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":1}}}`, "restart policy", nil},
		{"writable bind volume restarting", writer, `{"Image":"x","HostConfig":{"Binds":["job:/w"],"RestartPolicy":{"Name":"unless-stopped"}}}`, "restart policy", nil},
		{"writable bind mount restarting always", writer, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/srv/ci/job","Target":"/w"}],"RestartPolicy":{"Name":"always"}}}`, "restart policy", nil},

		// Networks are resolved as the engine resolves them.
		{"network by name", safe, `{"Image":"x","HostConfig":{"NetworkMode":"ovl"}}`, "", nil},
		{"network of the host driver", safe, `{"Image":"x","HostConfig":{"NetworkMode":"hostnet"}}`, "host's network", nil},
		{"host network by an id prefix", safe, `{"Image":"x","HostConfig":{"NetworkMode":"abc123"}}`, "host's network", nil},
		{"endpoint on an overlay network", safe, `{"Image":"x","NetworkingConfig":{"EndpointsConfig":{"ovl":{}}}}`, "", nil},
		{"endpoint on the host network", safe, `{"Image":"x","NetworkingConfig":{"EndpointsConfig":{"host":{}}}}`, "host network", nil},
		{"endpoint on a host-driver network", safe, `{"Image":"x","NetworkingConfig":{"EndpointsConfig":{"ovl":{},"hostnet":{}}}}`, "host's network", nil},
		{"host network with host namespaces allowed", loose, `{"Image":"x","HostConfig":{"NetworkMode":"hostnet"}}`, "", nil},

		// On cgroup v1 engines the default cgroup namespace is the host's.
		{"cgroup v1: default cgroupns", safe, `{"Image":"x"}`, "cgroup v1", v1},
		{"cgroup v1: private cgroupns", safe, `{"Image":"x","HostConfig":{"CgroupnsMode":"private"}}`, "", v1},
		{"cgroup v1: host namespaces allowed", loose, `{"Image":"x"}`, "", v1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			policy := onePolicy(t, []string{"ContainerCreate"}, func(p *Profile) { p.Create = c.rules })
			w := c.world
			if w == nil {
				w = ciWorld()
			}
			d := settle(t, policy, anyone, newRequest("POST", "/v1.41/containers/create", c.body), []byte(c.body), w.fact)
			wantRefusal(t, c.body, d, StepBody, http.StatusForbidden, c.want)
		})
	}
}

func TestJudgeExecAndVolume(t *testing.T) {
	policy := onePolicy(t, []string{"ContainerExec", "VolumeCreate"}, func(prof *Profile) {
		prof.Exec = ExecRules{NonRootUser: true, Commands: []string{"sh", "cat"}}
		prof.Create = CreateRules{BindSources: []string{"/srv/ci"}}
	})
	w := ciWorld()
	w.containers = map[string]*container.HostConfig{
		"x":     {SecurityOpt: []string{"no-new-privileges"}},
		"setid": {},
	}
	cases := []struct {
		path, body, want string
	}{
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"],"User":"1000:1000"}`, ""},
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"],"User":"1000:1000","Detach":false}`, ""},
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"],"User":"1000:1000","Privileged":true}`, "privileged exec"},
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"]}`, "non-root"},
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"],"User":"root"}`, "non-root"},
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"],"User":"1000"}`, "non-root"},
		{"/v1.41/containers/x/exec", `{"Cmd":["rm","-rf","/"],"User":"1000:1000"}`, "not in"},
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"],"User":"1000:1000","privileged":true,"Privileged":false}`, "differ only in case"},
		{"/v1.41/volumes/create", `{"Name":"v"}`, ""},
		{"/v1.41/volumes/create", `{"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/etc"}}`, "not under"},
		{"/v1.41/volumes/create", `{"Name":"v","DriverOpts":{"type":"none","o":"bind,ro","device":"/srv/ci/v"}}`, ""},
		{"/v1.41/volumes/create", `{"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/srv/ci/v"}}`, "o=bind,ro"},
		{"/v1.41/volumes/create", `{"Name":"v","DriverOpts":{"type":"none","o":"bind,ro","device":"/srv/ci/link"}}`, "resolves to /etc"},
		{"/v1.41/volumes/create", `{"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/srv/ci/../../etc"}}`, "not clean"},
		{"/v1.41/volumes/create", `{"Name":"v","DriverOpts":{"type":"tmpfs","device":"tmpfs","o":"size=1m"}}`, ""},
		{"/v1.41/volumes/create", `{"Name":"v","Driver":"nfs","DriverOpts":{"share":"x"}}`, "volume driver"},
		{"/v1.41/volumes/create", `{"Name":"v","DriverOpts":{"type":"overlay","device":"overlay","o":"lowerdir=/etc"}}`, "volume type"},
		{"/v1.41/volumes/create", `{"Name":"v","DriverOpts":{"type":"proc","device":"proc"}}`, "volume type"},
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"],"User":"1000:1000","Env":["PATH=/tmp/p"]}`, "environment"},
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"],"User":"+0"}`, "non-root"},
		// The exec stays non-root only in a container with no-new-privileges.
		{"/v1.41/containers/setid/exec", `{"Cmd":["sh"],"User":"1000:1000"}`, "no-new-privileges"},
	}
	for _, c := range cases {
		d := settle(t, policy, anyone, newRequest("POST", c.path, c.body), []byte(c.body), w.fact)
		step, status := StepBody, http.StatusForbidden
		switch {
		case strings.Contains(c.want, "differ only in case"):
			status = http.StatusBadRequest
		case strings.Contains(c.want, "no-new-privileges"):
			step = StepTarget
		}
		wantRefusal(t, c.path+" "+c.body, d, step, status, c.want)
	}
}

func TestJudgeService(t *testing.T) {
	cases := []struct {
		name string
		body string
		want string
	}{
		{"plain", `{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"x"}}}`, ""},
		{"bind mount", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Mounts":[{"Type":"bind","Source":"/","Target":"/h"}]}}}`, "not under"},
		{"volume mount of an existing bind volume", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Mounts":[{"Type":"volume","Source":"etc","Target":"/h"}]}}}`, "not under"},
		{"added capability", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","CapabilityAdd":["CAP_SYS_ADMIN"]}}}`, "capability"},
		{"seccomp unconfined", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Privileges":{"Seccomp":{"Mode":"unconfined"}}}}}`, "security options"},
		{"apparmor disabled", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Privileges":{"AppArmor":{"Mode":"disabled"}}}}}`, "security options"},
		{"selinux disabled", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Privileges":{"SELinuxContext":{"Disable":true}}}}}`, "security options"},
		{"selinux type", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Privileges":{"SELinuxContext":{"Type":"spc_t"}}}}}`, "security options"},
		{"gelf log driver", `{"TaskTemplate":{"ContainerSpec":{"Image":"x"},"LogDriver":{"Name":"gelf"}}}`, "log driver"},
		{"sysctls", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Sysctls":{"a":"b"}}}}`, "sysctls"},
		{"host network", `{"TaskTemplate":{"ContainerSpec":{"Image":"x"},"Networks":[{"Target":"host"}]}}`, "host network"},
		{"host-driver network", `{"TaskTemplate":{"ContainerSpec":{"Image":"x"},"Networks":[{"Target":"ovl"},{"Target":"hostnet"}]}}`, "host's network"},
		{"host network by an id prefix", `{"TaskTemplate":{"ContainerSpec":{"Image":"x"},"Networks":[{"Target":"abc123"}]}}`, "host's network"},
		{"overlay network", `{"TaskTemplate":{"ContainerSpec":{"Image":"x"},"Networks":[{"Target":"ovl"}]}}`, ""},
		{"plugin", `{"TaskTemplate":{"PluginSpec":{"Name":"p"}}}`, "plugin"},
		{"no container spec", `{"TaskTemplate":{}}`, "container spec"},
		{"network attachment", `{"TaskTemplate":{"Runtime":"attachment","NetworkAttachmentSpec":{"ContainerID":"c"}}}`, "runtime"},

		// Secrets and configs are judged by what the swarm holds under
		// the id, and must be listed.
		{"listed secret", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Secrets":[{"SecretID":"sdb","SecretName":"db"}]}}}`, ""},
		{"secret not listed", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Secrets":[{"SecretID":"sother","SecretName":"other"}]}}}`, "create rule secrets"},
		{"listed name on another secret's id", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Secrets":[{"SecretID":"sother","SecretName":"db"}]}}}`, `names secret "other"`},
		{"secret named by its name for an id", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Secrets":[{"SecretID":"db","SecretName":"db"}]}}}`, "(id sdb)"},
		{"secret that does not exist", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Secrets":[{"SecretID":"gone","SecretName":"db"}]}}}`, "not found"},
		{"listed config", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Configs":[{"ConfigID":"capp","ConfigName":"app"}]}}}`, ""},
		{"secret's name as a config", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Configs":[{"ConfigID":"sdb","ConfigName":"db"}]}}}`, "create rule configs"},
		{"credential spec", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Privileges":{"CredentialSpec":{"Config":"capp"}},"Configs":[{"ConfigID":"capp","ConfigName":"app","Runtime":{}}]}}}`, "credential spec"},

		// The swarm mounts a service's binds again for every new task.
		{"read-only bind mount", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Mounts":[{"Type":"bind","Source":"/srv/ci/job","Target":"/w","ReadOnly":true}]}}}`, ""},
		{"writable bind mount", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Mounts":[{"Type":"bind","Source":"/srv/ci/job","Target":"/w"}]}}}`, "a service's host binds must be read-only"},
		{"writable bind volume", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Mounts":[{"Type":"volume","Source":"job","Target":"/w"}]}}}`, "a service's host binds must be read-only"},
	}
	policy := onePolicy(t, []string{"ServiceCreate", "ServiceUpdate"}, func(p *Profile) {
		p.Create = CreateRules{BindSources: []string{"/srv/ci"}, WritableBinds: true, Secrets: []string{"db"}, Configs: []string{"app"}}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/v1.41/services/create", "/v1.41/services/s/update?version=3"} {
				d := settle(t, policy, anyone, newRequest("POST", path, c.body), []byte(c.body), ciWorld().fact)
				wantRefusal(t, path, d, StepBody, http.StatusForbidden, c.want)
			}
		})
	}
}

func TestJudgePlugin(t *testing.T) {
	table, err := NewRouteTable()
	if err != nil {
		t.Fatal(err)
	}
	strict, err := NewProfile(table, "strict", []string{"PluginPull", "PluginSet", "PluginUpgrade"})
	if err != nil {
		t.Fatal(err)
	}
	loose, err := NewProfile(table, "loose", []string{"PluginPull", "PluginSet"})
	if err != nil {
		t.Fatal(err)
	}
	loose.Create.PluginPrivileges = true
	policy, err := NewPolicy(table, []*Profile{strict, loose}, []Client{{UID: new(uint32(7)), Profile: "loose", Name: "c"}}, "strict")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		uid        uint32
		path, body string
		want       string
	}{
		{0, "/v1.41/plugins/pull", `[]`, ""},
		{0, "/v1.41/plugins/pull", `[{"Name":"network","Value":["host"]}]`, "privileges (network)"},
		{0, "/v1.41/plugins/p/upgrade", `[{"Name":"mount","Value":["/"]}]`, "privileges (mount)"},
		{0, "/v1.41/plugins/p/set", `["mymount.source=/"]`, "settings"},
		{0, "/v1.41/plugins/pull", `{"Name":"network"}`, "cannot unmarshal"},
		{7, "/v1.41/plugins/pull", `[{"Name":"network","Value":["host"]}]`, ""},
		{7, "/v1.41/plugins/p/set", `["DEBUG=1"]`, ""},
	}
	for _, c := range cases {
		caller := Caller{Peer: Peer{UID: c.uid}, Known: true}
		d := settle(t, policy, caller, newRequest("POST", c.path, c.body), []byte(c.body), plainWorld.fact)
		status := http.StatusForbidden
		if strings.Contains(c.want, "unmarshal") {
			status = http.StatusBadRequest
		}
		wantRefusal(t, fmt.Sprintf("uid %d %s %s", c.uid, c.path, c.body), d, StepBody, status, c.want)
	}
}

// TestCreateBodyOfOlderClients: docker 20.10 and Go clients of that age
// send KernelMemory and KernelMemoryTCP; they are known, not refused as
// unknown, and the rest is judged as usual.
func TestCreateBodyOfOlderClients(t *testing.T) {
	policy := onePolicy(t, []string{"ContainerCreate"}, nil)
	cases := []struct {
		body, want string
		status     int
	}{
		{`{"Image":"x","HostConfig":{"KernelMemory":0,"KernelMemoryTCP":0,"Binds":null}}`, "", 0},
		{`{"Image":"x","HostConfig":{"KernelMemory":0,"Privileged":true}}`, "privileged", http.StatusForbidden},
		{`{"Image":"x","Binds":["/:/h"]}`, "unknown field", http.StatusBadRequest},
	}
	for _, c := range cases {
		d := settle(t, policy, anyone, newRequest("POST", "/v1.41/containers/create", c.body), []byte(c.body), plainWorld.fact)
		wantRefusal(t, c.body, d, StepBody, c.status, c.want)
	}
}

// TestJudgeExisting: an operation that reaches into a container judges
// the container as its inspect shows it, the engine's defaults filled in.
func TestJudgeExisting(t *testing.T) {
	cases := []struct {
		name string
		hc   string
		want string
	}{
		{"engine defaults of a plain container", `{"NetworkMode":"none","IpcMode":"private","CgroupnsMode":"host","Runtime":"runc","LogConfig":{"Type":"json-file"},"MaskedPaths":["/proc/asound","/proc/acpi","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/firmware"],"ReadonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}`, ""},
		{"a newer engine's longer defaults", `{"MaskedPaths":["/proc/asound","/proc/acpi","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/firmware","/sys/devices/virtual/powercap"],"ReadonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}`, ""},
		// Narrowed lists leave /proc/sys or /sys/firmware writable.
		{"read-only paths narrowed", `{"MaskedPaths":["/proc/asound","/proc/acpi","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/firmware"],"ReadonlyPaths":["/proc/asound"]}`, "masked or read-only"},
		{"masked paths narrowed", `{"MaskedPaths":["/proc/kcore"],"ReadonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}`, "masked or read-only"},
		{"host bind", `{"Binds":["/etc:/host"],"CgroupnsMode":"host"}`, "may not use"},
		{"privileged", `{"Privileged":true,"MaskedPaths":[]}`, "may not use"},
		{"unmasked", `{"MaskedPaths":[]}`, "masked"},
		{"host pid", `{"PidMode":"host"}`, "PidMode"},
		{"bind under the bind sources", `{"Binds":["/srv/ci/job:/w:ro"],"RestartPolicy":{"Name":"always"}}`, ""},
		{"writable bind under the bind sources", `{"Binds":["/srv/ci/job:/w"],"RestartPolicy":{"Name":"no"}}`, "writable_binds"},
		{"bind through a link out of the bind sources", `{"Binds":["/srv/ci/link:/w:ro"]}`, "resolves to /etc"},
		{"volume binding /etc", `{"Binds":["etc:/w"]}`, "not under"},
	}
	policy := onePolicy(t, []string{"ContainerStart", "ContainerArchive", "ContainerAttach"}, func(p *Profile) {
		p.Create.BindSources = []string{"/srv/ci"}
	})
	for _, c := range cases {
		var hc container.HostConfig
		if err := DecodeBody([]byte(c.hc), &hc); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		w := ciWorld()
		w.containers = map[string]*container.HostConfig{"c": &hc}
		for _, target := range []string{"/v1.41/containers/c/start", "/containers/c/archive?path=/", "/containers/c/attach?stream=1"} {
			method := "POST"
			if strings.Contains(target, "archive") {
				method = "GET"
			}
			d := settle(t, policy, anyone, newRequest(method, target, ""), nil, w.fact)
			wantRefusal(t, c.name+": "+target, d, StepTarget, http.StatusForbidden, c.want)
			if d.Allowed() && !strings.Contains(d.Path, "/containers/"+fakeID("c")+"/") {
				t.Errorf("%s: %s forwards to %s, not to the container's full id", c.name, target, d.Path)
			}
		}
	}
}

// TestJudgeContainerUpdate: an update's restart policy is judged with
// the container it updates, as the update leaves it.
func TestJudgeContainerUpdate(t *testing.T) {
	policy := onePolicy(t, []string{"ContainerUpdate"}, func(p *Profile) {
		p.Create = CreateRules{BindSources: []string{"/srv/ci"}, WritableBinds: true}
	})
	w := ciWorld()
	w.containers = map[string]*container.HostConfig{
		"rw":   {Binds: []string{"/srv/ci/job:/w"}},
		"ro":   {Binds: []string{"/srv/ci/job:/w:ro"}},
		"priv": {Privileged: true},
	}
	cases := []struct{ name, body, want string }{
		{"rw", `{"RestartPolicy":{"Name":"always"}}`, "restart policy"},
		{"rw", `{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}`, "restart policy"},
		{"rw", `{"RestartPolicy":{"Name":"no"}}`, ""},
		{"rw", `{"Memory":1048576}`, ""},
		{"rw", `{"Memory":1048576,"KernelMemory":0,"KernelMemoryTCP":0}`, ""},
		{"ro", `{"RestartPolicy":{"Name":"always"}}`, ""},
		{"priv", `{"Memory":1048576}`, "may not use"},
	}
	for _, c := range cases {
		d := settle(t, policy, anyone, newRequest("POST", "/v1.41/containers/"+c.name+"/update", c.body), []byte(c.body), w.fact)
		wantRefusal(t, c.name+" "+c.body, d, StepTarget, http.StatusForbidden, c.want)
		if d.Allowed() && d.Path != "/v1.41/containers/"+fakeID(c.name)+"/update" {
			t.Errorf("%s: forwarded to %s, not to the container's full id", c.name, d.Path)
		}
	}
	d := settle(t, policy, anyone, newRequest("POST", "/v1.41/containers/rw/update", `{"Restart":1}`), []byte(`{"Restart":1}`), w.fact)
	wantRefusal(t, "unknown field", d, StepBody, http.StatusBadRequest, "unknown field")
}
