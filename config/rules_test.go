package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

// TestShippedPolicies loads the policies the project ships: the packaged
// starter and the examples.
func TestShippedPolicies(t *testing.T) {
	res := fakeResolver{groups: map[string]uint32{"ci": 3000}}
	for _, path := range []string{"../packaging/policy.yaml", "../examples/policies/ci-runner.yaml"} {
		if _, err := Load(path, newTable(t), res); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// TestCIRunnerExample checks the worked example does what the README says.
func TestCIRunnerExample(t *testing.T) {
	f, err := Load("../examples/policies/ci-runner.yaml", newTable(t), fakeResolver{groups: map[string]uint32{"ci": 3000}})
	if err != nil {
		t.Fatal(err)
	}
	member := filter.Peer{UID: 1200, GID: 1200, Groups: []uint32{3000}}
	prof, rule := f.Policy.ProfileFor(filter.Caller{Peer: member, Known: true})
	if prof == nil || prof.Name != "ci-runner" || !strings.Contains(rule, "group ci") {
		t.Fatalf("ci member gets %v via %s", prof, rule)
	}
	for _, op := range []string{"ImageBuild", "ContainerList", "ContainerInspect", "ContainerCreate", "ContainerStart", "ContainerAttach", "ContainerWait", "ContainerDelete"} {
		if !prof.Allows(op) {
			t.Errorf("ci-runner does not allow %s", op)
		}
	}
	for _, op := range []string{"ContainerExec", "ExecStart", "ContainerArchive", "NetworkCreate", "ImageDelete"} {
		if prof.Allows(op) {
			t.Errorf("ci-runner allows %s", op)
		}
	}
	want := filter.CreateRules{BindSources: []string{"/srv/ci"}, NonRootUser: true}
	if !slices.Equal(prof.Create.BindSources, want.BindSources) || prof.Create.NonRootUser != want.NonRootUser ||
		prof.Create.Privileged || prof.Create.HostNamespaces || prof.Create.NoNamedVolumes {
		t.Errorf("create rules %+v", prof.Create)
	}
	if other, _ := f.Policy.ProfileFor(filter.Caller{Peer: filter.Peer{UID: 1200, GID: 1200}, Known: true}); other != nil {
		t.Errorf("a non-member gets profile %s", other.Name)
	}
}

func TestBodyRuleKeys(t *testing.T) {
	good := `
profiles:
  p:
    allow: [ContainerCreate, ContainerExec]
    create:
      privileged: true
      bind_sources: [/srv/a, /srv/b]
      named_volumes: false
      host_namespaces: true
      cap_add: [NET_ADMIN]
      devices: true
      security_opt: true
      masked_paths: true
      sysctls: true
      cgroup_parent: true
      runtimes: [runsc]
      group_add: true
      volumes_from: true
      user: non-root
      images: ["registry.example/*"]
      writable_binds: true
      secrets: [db-password]
      configs: [app-config]
    exec:
      privileged: true
      user: non-root
      commands: [/bin/sh]
default: p
`
	f, err := Parse("p.yaml", []byte(good), newTable(t), testResolver)
	if err != nil {
		t.Fatal(err)
	}
	prof := f.Policy.Profiles()[0]
	c := prof.Create
	if !c.Privileged || !c.NoNamedVolumes || !c.HostNamespaces || !c.Devices || !c.SecurityOpt || !c.MaskedPaths ||
		!c.Sysctls || !c.CgroupParent || !c.GroupAdd || !c.VolumesFrom || !c.NonRootUser ||
		!slices.Equal(c.BindSources, []string{"/srv/a", "/srv/b"}) || !slices.Equal(c.CapAdd, []string{"NET_ADMIN"}) ||
		!slices.Equal(c.Runtimes, []string{"runsc"}) || !slices.Equal(c.Images, []string{"registry.example/*"}) ||
		!c.WritableBinds || !slices.Equal(c.Secrets, []string{"db-password"}) || !slices.Equal(c.Configs, []string{"app-config"}) {
		t.Errorf("create rules %+v", c)
	}
	if x := prof.Exec; !x.Privileged || !x.NonRootUser || !slices.Equal(x.Commands, []string{"/bin/sh"}) {
		t.Errorf("exec rules %+v", x)
	}

	bad := []struct{ text, want string }{
		{"profiles:\n  p:\n    create:\n      privileged: yes-please\n", "p.yaml:4: profile p create.privileged must be true or false"},
		{"profiles:\n  p:\n    create:\n      colour: red\n", `p.yaml:4: profile p create: unknown key "colour"`},
		{"profiles:\n  p:\n    create:\n      bind_sources: [relative/path]\n", "must be an absolute path"},
		{"profiles:\n  p:\n    create:\n      bind_sources: [/]\n", "must be an absolute path other than /"},
		{"profiles:\n  p:\n    create:\n      bind_sources: /srv\n", "create.bind_sources must be a list"},
		{"profiles:\n  p:\n    create:\n      user: nobody\n", "must be any or non-root"},
		{"profiles:\n  p:\n    exec:\n      shell: true\n", `profile p exec: unknown key "shell"`},
		{"profiles:\n  p:\n    exec:\n      commands: [id]\n", "must be an absolute path"},
		{"profiles:\n  p:\n    create:\n      bind_sources: [/tmp/ci]\n", "is under /tmp"},
		{"profiles:\n  p:\n    create:\n      bind_sources: [/home/alice]\n", "is under /home"},
		{"profiles:\n  p:\n    create:\n      bind_sources: [/dev]\n", "is under /dev"},
	}
	for _, b := range bad {
		_, err := Parse("p.yaml", []byte(b.text), newTable(t), testResolver)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: error %v, want %q", b.text, err, b.want)
		}
	}
}

func TestViewKeys(t *testing.T) {
	f, err := Parse("p.yaml", []byte("profiles:\n  p:\n    allow: [ContainerInspect]\n    redact: [env]\n    visible_if_label: traefik.enable=true\ndefault: p\n"), newTable(t), testResolver)
	if err != nil {
		t.Fatal(err)
	}
	var v *filter.View
	for _, prof := range f.Policy.Profiles() {
		if prof.Name == "p" {
			v = &prof.View
		}
	}
	if v == nil || !v.RedactEnv || v.LabelKey != "traefik.enable" || v.LabelValue != "true" || !v.HasValue {
		t.Errorf("view %+v", v)
	}
	for _, bad := range []struct{ text, want string }{
		{"profiles:\n  p:\n    redact: [labels]\n", `"labels" is not something that can be redacted`},
		{"profiles:\n  p:\n    visible_if_label: =x\n", "want key or key=value"},
	} {
		if _, err := Parse("p.yaml", []byte(bad.text), newTable(t), testResolver); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.text, err, bad.want)
		}
	}
}
