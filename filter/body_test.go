package filter

import (
	"errors"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"
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

// resolveFake treats /srv/ci/link as a symbolic link to /etc.
func resolveFake(p string) (string, error) {
	if p == "/srv/ci/link" || strings.HasPrefix(p, "/srv/ci/link/") {
		return "/etc" + strings.TrimPrefix(p, "/srv/ci/link"), nil
	}
	return p, nil
}

func TestJudgeCreate(t *testing.T) {
	ci := CreateRules{BindSources: []string{"/srv/ci"}, NonRootUser: true, Images: []string{"dsf-test:*", "docker.io/library/*"}}
	safe := CreateRules{}
	loose := CreateRules{Privileged: true, HostNamespaces: true, CapAdd: []string{"NET_ADMIN"}, Devices: true,
		SecurityOpt: true, MaskedPaths: true, Sysctls: true, CgroupParent: true, Runtimes: []string{"runsc"},
		GroupAdd: true, VolumesFrom: true, BindSources: []string{"/"}}
	cases := []struct {
		name  string
		rules CreateRules
		body  string
		want  string // refusal substring; empty to allow
	}{
		{"plain create", safe, `{"Image":"x","Cmd":["true"]}`, ""},
		{"no host config", safe, `{"Image":"x"}`, ""},
		{"privileged", safe, `{"Image":"x","HostConfig":{"Privileged":true}}`, "privileged"},
		{"host bind", safe, `{"Image":"x","HostConfig":{"Binds":["/:/host"]}}`, "not under an allowed bind source"},
		{"named volume", safe, `{"Image":"x","HostConfig":{"Binds":["data:/data"]}}`, ""},
		{"named volume refused", CreateRules{NoNamedVolumes: true}, `{"Image":"x","HostConfig":{"Binds":["data:/data"]}}`, "named volume"},
		{"anonymous volume", safe, `{"Image":"x","HostConfig":{"Binds":["/data"]}}`, ""},
		{"bind mount", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/etc","Target":"/e"}]}}`, "not under"},
		{"volume mount with bind options", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/etc"}}}}]}}`, "not under"},
		{"volume mount other driver options", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"nfs","Options":{"addr":"x"}}}}]}}`, "volume driver"},
		{"tmpfs mount", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"tmpfs","Target":"/t"}]}}`, ""},
		{"npipe mount", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"npipe","Source":"x","Target":"/t"}]}}`, "mount type"},
		{"network host", safe, `{"Image":"x","HostConfig":{"NetworkMode":"host"}}`, "NetworkMode"},
		{"network of another container", safe, `{"Image":"x","HostConfig":{"NetworkMode":"container:abc"}}`, "NetworkMode"},
		{"pid host", safe, `{"Image":"x","HostConfig":{"PidMode":"host"}}`, "PidMode"},
		{"ipc container", safe, `{"Image":"x","HostConfig":{"IpcMode":"container:abc"}}`, "IpcMode"},
		{"uts host", safe, `{"Image":"x","HostConfig":{"UTSMode":"host"}}`, "UTSMode"},
		{"userns host", safe, `{"Image":"x","HostConfig":{"UsernsMode":"host"}}`, "UsernsMode"},
		{"cgroupns host", safe, `{"Image":"x","HostConfig":{"CgroupnsMode":"host"}}`, "CgroupnsMode"},
		{"network none and ipc shareable", safe, `{"Image":"x","HostConfig":{"NetworkMode":"none","IpcMode":"shareable"}}`, ""},
		{"cap add", safe, `{"Image":"x","HostConfig":{"CapAdd":["SYS_ADMIN"]}}`, "capability SYS_ADMIN"},
		{"cap add allowed", loose, `{"Image":"x","HostConfig":{"CapAdd":["CAP_NET_ADMIN"]}}`, ""},
		{"cap add other than allowed", loose, `{"Image":"x","HostConfig":{"CapAdd":["SYS_ADMIN"]}}`, "capability"},
		{"cap drop", safe, `{"Image":"x","HostConfig":{"CapDrop":["ALL"]}}`, ""},
		{"devices", safe, `{"Image":"x","HostConfig":{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]}}`, "devices"},
		{"device cgroup rules", safe, `{"Image":"x","HostConfig":{"DeviceCgroupRules":["a *:* rwm"]}}`, "devices"},
		{"device requests", safe, `{"Image":"x","HostConfig":{"DeviceRequests":[{"Count":-1}]}}`, "devices"},
		{"seccomp unconfined", safe, `{"Image":"x","HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}`, "security option"},
		{"apparmor unconfined", safe, `{"Image":"x","HostConfig":{"SecurityOpt":["apparmor=unconfined"]}}`, "security option"},
		{"label disable", safe, `{"Image":"x","HostConfig":{"SecurityOpt":["label=disable"]}}`, "security option"},
		{"no-new-privileges", safe, `{"Image":"x","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, ""},
		{"masked paths emptied", safe, `{"Image":"x","HostConfig":{"MaskedPaths":[]}}`, "masked"},
		{"readonly paths emptied", safe, `{"Image":"x","HostConfig":{"ReadonlyPaths":[]}}`, "masked"},
		{"sysctls", safe, `{"Image":"x","HostConfig":{"Sysctls":{"kernel.shm_rmid_forced":"1"}}}`, "sysctls"},
		{"cgroup parent", safe, `{"Image":"x","HostConfig":{"CgroupParent":"/"}}`, "cgroup parent"},
		{"runtime", safe, `{"Image":"x","HostConfig":{"Runtime":"runsc"}}`, "runtime"},
		{"group add", safe, `{"Image":"x","HostConfig":{"GroupAdd":["docker"]}}`, "groups"},
		{"volumes from", safe, `{"Image":"x","HostConfig":{"VolumesFrom":["other"]}}`, "volumes from"},
		{"everything loosened", loose, `{"Image":"x","HostConfig":{"Privileged":true,"Binds":["/:/h"],"PidMode":"host","Devices":[{"PathOnHost":"/dev/null"}],"SecurityOpt":["seccomp=unconfined"],"MaskedPaths":[],"Sysctls":{"a":"b"},"CgroupParent":"x","Runtime":"runsc","GroupAdd":["1"],"VolumesFrom":["o"]}}`, ""},
		{"ci: bind under /srv/ci", ci, `{"Image":"dsf-test:latest","User":"1000","HostConfig":{"Binds":["/srv/ci/job1:/work"],"SecurityOpt":["no-new-privileges"]}}`, ""},
		{"ci: bind is /srv/ci itself", ci, `{"Image":"dsf-test:latest","User":"1000","HostConfig":{"Binds":["/srv/ci:/work:ro"],"SecurityOpt":["no-new-privileges"]}}`, ""},
		{"ci: dot-dot out of /srv/ci", ci, `{"Image":"dsf-test:latest","User":"1000","HostConfig":{"Binds":["/srv/ci/../../etc:/work"],"SecurityOpt":["no-new-privileges"]}}`, "not under"},
		{"ci: prefix is not a path prefix", ci, `{"Image":"dsf-test:latest","User":"1000","HostConfig":{"Binds":["/srv/ci-other:/work"],"SecurityOpt":["no-new-privileges"]}}`, "not under"},
		{"ci: symbolic link out of /srv/ci", ci, `{"Image":"dsf-test:latest","User":"1000","HostConfig":{"Binds":["/srv/ci/link/shadow:/work"],"SecurityOpt":["no-new-privileges"]}}`, "resolves to /etc/shadow"},
		{"ci: root user", ci, `{"Image":"dsf-test:latest","User":"root","HostConfig":{}}`, "non-root"},
		{"ci: uid 0 with group", ci, `{"Image":"dsf-test:latest","User":"0:1000"}`, "non-root"},
		{"ci: image's own user", ci, `{"Image":"dsf-test:latest"}`, "non-root"},
		{"ci: image not allowed", ci, `{"Image":"evil/rootkit","User":"1000"}`, "matches none"},
		{"ci: library image", ci, `{"Image":"docker.io/library/alpine","User":"1000","HostConfig":{"SecurityOpt":["no-new-privileges:true"]}}`, ""},
		{"ci: non-root without no-new-privileges", ci, `{"Image":"dsf-test:latest","User":"1000"}`, "no-new-privileges"},
		{"ci: signed zero", ci, `{"Image":"dsf-test:latest","User":"+0","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, "non-root"},
		{"ci: negative zero", ci, `{"Image":"dsf-test:latest","User":"-0","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, "non-root"},
		{"ci: leading zeros", ci, `{"Image":"dsf-test:latest","User":"00","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, "non-root"},
		{"ci: a name may be uid 0", ci, `{"Image":"dsf-test:latest","User":"ci","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, "non-root"},
		{"ci: gid 0", ci, `{"Image":"dsf-test:latest","User":"1000:0","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, "non-root"},
		{"ci: no-new-privileges turned off again", ci, `{"Image":"dsf-test:latest","User":"1000","HostConfig":{"SecurityOpt":["no-new-privileges","no-new-privileges=false"]}}`, "no-new-privileges"},
		{"ci: no-new-privileges=1", ci, `{"Image":"dsf-test:latest","User":"1000","HostConfig":{"SecurityOpt":["no-new-privileges=1"]}}`, ""},
		{"ci: uid and gid", ci, `{"Image":"dsf-test:latest","User":"1000:1000","HostConfig":{"SecurityOpt":["no-new-privileges"]}}`, ""},
		{"overlay volume from host directories", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"overlay","device":"overlay","o":"lowerdir=/etc:/tmp"}}}}]}}`, "volume type"},
		{"proc volume", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"proc","device":"proc"}}}}]}}`, "volume type"},
		{"bind volume with other options", CreateRules{BindSources: []string{"/srv/ci"}}, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"bind,upperdir=/etc","device":"/srv/ci/x"}}}}]}}`, "bind volume option"},
		{"links", safe, `{"Image":"x","HostConfig":{"Links":["db:db"]}}`, "links"},
		{"syslog log driver", safe, `{"Image":"x","HostConfig":{"LogConfig":{"Type":"syslog","Config":{"syslog-address":"unix:///run/x.sock"}}}}`, "log driver"},
		{"journald log driver", safe, `{"Image":"x","HostConfig":{"LogConfig":{"Type":"journald"}}}`, ""},
		{"tmpfs volume", safe, `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"tmpfs","device":"tmpfs","o":"size=1m,uid=1000"}}}}]}}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var req container.CreateRequest
			if err := DecodeBody([]byte(c.body), &req); err != nil {
				t.Fatalf("DecodeBody: %v", err)
			}
			err := c.rules.JudgeCreate(&req, resolveFake)
			if c.want == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrRule) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want a rule refusal containing %q", err, c.want)
			}
		})
	}
}

func TestJudgeExecAndVolume(t *testing.T) {
	policy := onePolicy(t, []string{"ContainerExec", "VolumeCreate"}, func(prof *Profile) {
		prof.Exec = ExecRules{NonRootUser: true, Commands: []string{"sh", "cat"}}
		prof.Create = CreateRules{BindSources: []string{"/srv/ci"}}
	})
	cases := []struct {
		path, body, want string
	}{
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"],"User":"1000"}`, ""},
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"],"User":"1000","Detach":false}`, ""},
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"],"User":"1000","Privileged":true}`, "privileged exec"},
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"]}`, "non-root"},
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"],"User":"root"}`, "non-root"},
		{"/v1.41/containers/x/exec", `{"Cmd":["rm","-rf","/"],"User":"1000"}`, "not in"},
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"],"User":"1000","privileged":true,"Privileged":false}`, "differ only in case"},
		{"/v1.41/volumes/create", `{"Name":"v"}`, ""},
		{"/v1.41/volumes/create", `{"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/etc"}}`, "not under"},
		{"/v1.41/volumes/create", `{"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/srv/ci/v"}}`, ""},
		{"/v1.41/volumes/create", `{"Name":"v","DriverOpts":{"type":"tmpfs","device":"tmpfs","o":"size=1m"}}`, ""},
		{"/v1.41/volumes/create", `{"Name":"v","Driver":"nfs","DriverOpts":{"share":"x"}}`, "volume driver"},
		{"/v1.41/volumes/create", `{"Name":"v","DriverOpts":{"type":"overlay","device":"overlay","o":"lowerdir=/etc"}}`, "volume type"},
		{"/v1.41/volumes/create", `{"Name":"v","DriverOpts":{"type":"proc","device":"proc"}}`, "volume type"},
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"],"User":"1000","Env":["PATH=/tmp/p"]}`, "environment"},
		{"/v1.41/containers/x/exec", `{"Cmd":["sh"],"User":"+0"}`, "non-root"},
	}
	for _, c := range cases {
		d := policy.DecideRequest(Peer{}, "POST", c.path, int64(len(c.body)))
		if !d.Allow {
			t.Fatalf("%s: not allowed: %s", c.path, d.Reason)
		}
		err := policy.JudgeBody(&d, []byte(c.body), resolveFake)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s %s: refused: %v", c.path, c.body, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: error %v, want %q", c.path, c.body, err, c.want)
		}
	}
}

func TestJudgeService(t *testing.T) {
	safe := CreateRules{}
	cases := []struct {
		name string
		body string
		want string
	}{
		{"plain", `{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"x"}}}`, ""},
		{"bind mount", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Mounts":[{"Type":"bind","Source":"/","Target":"/h"}]}}}`, "not under"},
		{"added capability", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","CapabilityAdd":["CAP_SYS_ADMIN"]}}}`, "capability"},
		{"seccomp unconfined", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Privileges":{"Seccomp":{"Mode":"unconfined"}}}}}`, "security options"},
		{"apparmor disabled", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Privileges":{"AppArmor":{"Mode":"disabled"}}}}}`, "security options"},
		{"selinux disabled", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Privileges":{"SELinuxContext":{"Disable":true}}}}}`, "security options"},
		{"selinux type", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Privileges":{"SELinuxContext":{"Type":"spc_t"}}}}}`, "security options"},
		{"gelf log driver", `{"TaskTemplate":{"ContainerSpec":{"Image":"x"},"LogDriver":{"Name":"gelf"}}}`, "log driver"},
		{"sysctls", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Sysctls":{"a":"b"}}}}`, "sysctls"},
		{"host network", `{"TaskTemplate":{"ContainerSpec":{"Image":"x"},"Networks":[{"Target":"host"}]}}`, "host network"},
		{"plugin", `{"TaskTemplate":{"PluginSpec":{"Name":"p"}}}`, "plugin"},
		{"no container spec", `{"TaskTemplate":{}}`, "container spec"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var spec swarm.ServiceSpec
			if err := DecodeBody([]byte(c.body), &spec); err != nil {
				t.Fatalf("DecodeBody: %v", err)
			}
			err := safe.JudgeService(&spec, resolveFake)
			if c.want == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
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
		d := policy.DecideRequest(Peer{UID: c.uid}, "POST", c.path, int64(len(c.body)))
		if !d.Allow {
			t.Fatalf("%s: %s", c.path, d.Reason)
		}
		err := policy.JudgeBody(&d, []byte(c.body), resolveFake)
		if c.want == "" {
			if err != nil {
				t.Errorf("uid %d %s %s: %v", c.uid, c.path, c.body, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("uid %d %s %s: %v, want %q", c.uid, c.path, c.body, err, c.want)
		}
	}
}

// TestCreateBodyOfOlderClients: docker 20.10 and Go clients of that age
// send KernelMemory and KernelMemoryTCP; they are known, not refused as
// unknown, and the rest is judged as usual.
func TestCreateBodyOfOlderClients(t *testing.T) {
	policy := onePolicy(t, []string{"ContainerCreate"}, nil)
	cases := []struct{ body, want string }{
		{`{"Image":"x","HostConfig":{"KernelMemory":0,"KernelMemoryTCP":0,"Binds":null}}`, ""},
		{`{"Image":"x","HostConfig":{"KernelMemory":0,"Privileged":true}}`, "privileged"},
		{`{"Image":"x","Binds":["/:/h"]}`, "unknown field"},
	}
	for _, c := range cases {
		d := policy.DecideRequest(Peer{}, "POST", "/v1.41/containers/create", int64(len(c.body)))
		err := policy.JudgeBody(&d, []byte(c.body), resolveFake)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.body, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.body, err, c.want)
		}
	}
}

func TestJudgeExisting(t *testing.T) {
	safe := CreateRules{}
	cases := []struct {
		name string
		hc   string
		want string
	}{
		{"engine defaults of a plain container", `{"NetworkMode":"none","IpcMode":"private","CgroupnsMode":"host","Runtime":"runc","LogConfig":{"Type":"json-file"},"MaskedPaths":["/proc/kcore"],"ReadonlyPaths":["/proc/sys"]}`, ""},
		{"host bind", `{"Binds":["/etc:/host"],"CgroupnsMode":"host"}`, "may not use"},
		{"privileged", `{"Privileged":true,"MaskedPaths":[]}`, "may not use"},
		{"unmasked", `{"MaskedPaths":[]}`, "masked"},
		{"host pid", `{"PidMode":"host"}`, "PidMode"},
	}
	for _, c := range cases {
		var hc container.HostConfig
		if err := DecodeBody([]byte(c.hc), &hc); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		err := safe.JudgeExisting(&hc, resolveFake)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
