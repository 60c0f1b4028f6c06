package identity

import (
	"errors"
	"strings"
	"testing"
)

func TestContainerID(t *testing.T) {
	a := "6a8437abdd71ebb8fe5685e4d316f49e5f68f73a1cf211bbd966a573864224fe"
	b := "09a2c3b55b929297cba432af505a990ea62caabfd31f917113b945173ff894ba"
	v1 := func(path string) string {
		var sb strings.Builder
		for _, l := range []string{"9:name=systemd:", "8:pids:", "4:memory:", "1:cpu:", "0::"} {
			sb.WriteString(l + path + "\n")
		}
		return sb.String()
	}
	tests := []struct {
		name      string
		file      string
		id        string
		contained bool
		err       error
	}{
		{"cgroupfs driver, cgroup v1 and unified", v1("/docker/" + a), a, true, nil},
		{"cgroupfs driver, cgroup v2", "0::/docker/" + a + "\n", a, true, nil},
		{"systemd driver", "0::/system.slice/docker-" + a + ".scope\n", a, true, nil},
		{"systemd driver, v1", "12:pids:/system.slice/docker-" + a + ".scope\n1:name=systemd:/system.slice/docker-" + a + ".scope\n0::/\n", a, true, nil},
		{"rootless under the user's manager", "0::/user.slice/user-1000.slice/user@1000.service/app.slice/docker-" + a + ".scope\n", a, true, nil},
		{"podman", "0::/machine.slice/libpod-" + a + ".scope\n", a, true, nil},
		{"podman with crun's container leaf", "0::/machine.slice/libpod-" + a + ".scope/container\n", a, true, nil},
		{"podman's conmon is not the container", "0::/machine.slice/libpod-conmon-" + a + ".scope\n", "", true, nil},
		{"cgroup parent holding another container's id: the innermost counts", v1("/docker/" + a + "/" + b), b, true, nil},
		{"systemd cgroup parent slice named after another container", "0::/system.slice/docker-" + a + ".slice/docker-" + b + ".scope\n", b, true, nil},
		{"docker in docker: the inner container", "0::/docker/" + a + "/docker/" + b + "\n", b, true, nil},
		{"below a container's cgroup: no id, but contained", "0::/docker/" + a + "/init.scope\n", "", true, nil},
		{"a user's own cgroup named like a container's scope", "0::/user.slice/user-1000.slice/user@1000.service/docker-" + a + ".scope\n", a, true, nil},
		{"host process, systemd", "0::/user.slice/user-1000.slice/session-3.scope\n", "", false, nil},
		{"host service", "0::/system.slice/docker.service\n", "", false, nil},
		{"host, cgroup root", v1("/"), "", false, nil},
		{"host, v1 and empty unified", "1:name=systemd:/init.scope\n0::/\n", "", false, nil},
		{"upper-case hex is not an engine id", "0::/docker/" + strings.ToUpper(a) + "\n", "", false, nil},
		{"short id is not an engine id", "0::/docker/" + a[:12] + "\n", "", false, nil},
		{"docker- prefix without .scope", "0::/system.slice/docker-" + a + "\n", "", false, nil},
		{"lines naming different containers", "1:cpu:/docker/" + a + "\n0::/docker/" + b + "\n", "", true, errAmbiguous},
		{"malformed line", "garbage\n", "", true, errors.New("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, contained, err := ContainerID(tt.file)
			if (err != nil) != (tt.err != nil) || (tt.err == errAmbiguous && !errors.Is(err, errAmbiguous)) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if id != tt.id || contained != tt.contained {
				t.Errorf("ContainerID = %q, contained %v; want %q, %v", id, contained, tt.id, tt.contained)
			}
		})
	}
}
