package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestExplainAgreesWithServe runs one corpus of requests (paths, queries,
// bodies, content types, callers) through `explain` and through a served
// filter in front of the engine: each must get the same verdict, status,
// step and reason from both, since both run the same decision.
func TestExplainAgreesWithServe(t *testing.T) {
	e := testEnv(t)
	dir := shortTempDir(t)
	if err := os.MkdirAll("/srv", 0o755); err != nil {
		t.Fatal(err)
	}
	allowed, err := os.MkdirTemp("/srv", "dsf-explain")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(allowed) })
	policy := writePolicy(t, dir, fmt.Sprintf(`
profiles:
  writer:
    allow: [SystemPing, ContainerList, ContainerCreate, ContainerExec, ExecStart, ContainerArchive,
            VolumeCreate, ImageBuild, ImageCreate, ServiceUpdate, ContainerTop]
    create:
      bind_sources: [%s]
  reader:
    allow: [containers:read]
    redact: [env]
clients:
  - user: 0
    profile: writer
  - user: 4600
    profile: reader
default: none
`, allowed))
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy, "--listen-mode", "0666", "--log-format", "json"}})
	admins := runContainer(t, e, "-v", allowed+"/..:/up", e.image, "sleep", "300")
	plain := runContainer(t, e, "--security-opt", "no-new-privileges", e.image, "sleep", "300")
	foreignExec := engineExecCreate(t, e, admins)
	prefix := fmt.Sprintf("dsfexplain%d", os.Getpid())
	t.Cleanup(func() {
		ids, _, _ := cli(t, e.engineHost, nil, "ps", "-aq", "--filter", "name="+prefix)
		for _, id := range strings.Fields(ids) {
			cli(t, e.engineHost, nil, "rm", "-f", id)
		}
		cli(t, e.engineHost, nil, "volume", "rm", "-f", prefix+"-v")
	})
	img := fmt.Sprintf(`"Image":%q,"Cmd":["true"]`, e.image)
	const jsonType = "application/json"
	corpus := []struct {
		uid                         int
		method, target, ctype, body string
	}{
		{0, "GET", "/_ping", "", ""},
		{0, "HEAD", "/_ping", "", ""},
		{0, "GET", "/v1.41/networks", "", ""},
		{0, "GET", "/v1.41/containers/../networks", "", ""},
		{0, "GET", "/v1.41/containers/json?all=1", "", ""},
		{0, "GET", "/_ping", "text/plain", "a body"},
		{0, "POST", "/v1.41/build?networkmode=host", "application/x-tar", ""},
		{0, "POST", "/v1.41/build?cgroupparent=/x", "application/x-tar", ""},
		{0, "POST", "/v1.41/build?remote=http://127.0.0.1:1/x", "", ""},
		{0, "POST", "/v1.41/build?version=2", "application/x-tar", ""},
		{0, "POST", "/v1.41/services/x/update?version=1&rollback=previous", jsonType, `{}`},
		{0, "POST", "/v1.41/images/create?fromSrc=http://127.0.0.1:1/x&repo=" + prefix, "", ""},
		{0, "POST", "/v1.41/images/create", "application/x-www-form-urlencoded", "fromSrc=http://127.0.0.1:1/x"},
		{0, "POST", "/v1.41/containers/create?name=" + prefix + "-1", jsonType, `{` + img + `,"HostConfig":{"Privileged":true,"CgroupnsMode":"private"}}`},
		{0, "POST", "/v1.41/containers/create?name=" + prefix + "-2", jsonType, `{` + img + `,"HostConfig":{"Binds":["/etc:/x"],"CgroupnsMode":"private"}}`},
		{0, "POST", "/v1.41/containers/create?name=" + prefix + "-3", jsonType, `{` + img + `,"HostConfig":{"Binds":["` + allowed + `/../x:/x"],"CgroupnsMode":"private"}}`},
		{0, "POST", "/v1.41/containers/create?name=" + prefix + "-4", jsonType, `{` + img + `}`},
		{0, "POST", "/v1.41/containers/create?name=" + prefix + "-5", jsonType, `{` + img + `,"HostConfig":{"NetworkMode":"none","CgroupnsMode":"private","Binds":["` + allowed + `:/x"]}}`},
		{0, "POST", "/v1.41/containers/create?name=" + prefix + "-6", jsonType, `{` + img + `,"HostConfig":{"NetworkMode":"host","CgroupnsMode":"private"}}`},
		{0, "POST", "/v1.41/containers/create?name=" + prefix + "-7", jsonType, `{` + img + `,"hostconfig":{},"HostConfig":{}}`},
		{0, "POST", "/v1.41/containers/create?name=" + prefix + "-8", "multipart/form-data; boundary=x", `{` + img + `}`},
		{0, "POST", "/v1.41/volumes/create", jsonType, `{"Name":"` + prefix + `-v","DriverOpts":{"type":"none","o":"bind","device":"/etc"}}`},
		{0, "POST", "/v1.41/volumes/create", jsonType, `{"Name":"` + prefix + `-v","DriverOpts":{"type":"none","o":"bind","device":"` + allowed + `"}}`},
		{0, "POST", "/v1.41/containers/" + admins + "/exec", jsonType, `{"Cmd":["true"]}`},
		{0, "POST", "/v1.41/containers/" + plain[:12] + "/exec", jsonType, `{"Cmd":["true"]}`},
		{0, "POST", "/v1.41/containers/" + plain + "/exec", jsonType, `{"Cmd":["true"],"Privileged":true}`},
		{0, "POST", "/v1.41/exec/" + foreignExec + "/start", jsonType, `{"Detach":true}`},
		{0, "GET", "/v1.41/containers/" + prefix + "-nosuch/archive?path=/", "", ""},
		{0, "GET", "/v1.41/containers/" + admins + "/archive?path=/", "", ""},
		{0, "GET", "/v1.41/containers/" + plain + "/top?ps_args=auxe", "", ""},
		{4600, "GET", "/v1.41/containers/" + plain + "/top?ps_args=auxe", "", ""},
		{4600, "GET", "/v1.41/containers/" + plain + "/top?ps_args=-ef", "", ""},
		{4600, "GET", "/v1.41/containers/json", "", ""},
		{4600, "POST", "/v1.41/containers/create", jsonType, `{` + img + `}`},
		{4601, "GET", "/_ping", "", ""},
	}
	records := 0
	for i, c := range corpus {
		t.Run(fmt.Sprintf("%d %s %s", c.uid, c.method, c.target), func(t *testing.T) {
			bodyFile := filepath.Join(dir, fmt.Sprintf("body%d", i))
			if err := os.WriteFile(bodyFile, []byte(c.body), 0o644); err != nil {
				t.Fatal(err)
			}
			explained := explainRequest(t, e, policy, c.uid, c.method, c.target, c.ctype, c.body, bodyFile)
			curl := []string{"--reuid", strconv.Itoa(c.uid), "--regid", strconv.Itoa(c.uid), "--clear-groups",
				"curl", "-s", "-o", "/dev/null", "--path-as-is", "--unix-socket", f.sock, "-X", c.method}
			if c.method == "HEAD" {
				curl = append(curl, "-I")
			}
			if c.ctype != "" {
				curl = append(curl, "-H", "Content-Type: "+c.ctype)
			}
			if c.body != "" {
				curl = append(curl, "--data-binary", "@"+bodyFile)
			}
			curl = append(curl, "http://docker"+c.target)
			if out, err := exec.Command("setpriv", curl...).CombinedOutput(); err != nil {
				t.Fatalf("curl: %v %s", err, out)
			}
			records++
			served := waitRecord(t, f, records)
			if served != explained {
				t.Errorf("explain and serve disagree:\n  explain: %+v\n  serve:   %+v", explained, served)
			}
		})
	}
}

// verdict is what both sides say of one request.
type verdict struct {
	Decision, Step, Reason string
	Status                 int // for denials
}

func explainRequest(t *testing.T, e env, policy string, uid int, method, target, ctype, body, bodyFile string) verdict {
	t.Helper()
	args := []string{"explain", "--policy", policy, "--upstream", e.engineHost, "--uid", strconv.Itoa(uid)}
	if body != "" {
		args = append(args, "--body", bodyFile)
	}
	if ctype != "" {
		args = append(args, "--content-type", ctype)
	}
	if body == "" && ctype != "" {
		// A content type with no body: explain takes the type with an
		// empty body, as curl sends it.
		args = append(args, "--body", bodyFile)
	}
	out, _ := runFilter(t, e, append(args, method, target))
	var v verdict
	for _, line := range strings.Split(out, "\n") {
		key, value, _ := strings.Cut(line, ":")
		value = strings.TrimSpace(value)
		switch key {
		case "step":
			v.Step = value
		case "reason":
			v.Reason = value
		case "decision":
			v.Decision = "allow"
			if rest, ok := strings.CutPrefix(value, "deny ("); ok {
				v.Decision = "deny"
				v.Status, _ = strconv.Atoi(rest[:3])
			}
		}
	}
	if v.Decision == "" {
		t.Fatalf("explain printed no decision:\n%s", out)
	}
	return v
}

// waitRecord returns the n-th request record of the filter's JSON log,
// waiting (bounded) for the filter to write it after its answer.
func waitRecord(t *testing.T, f *filterProc, n int) verdict {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var recs []verdict
		for _, line := range strings.Split(f.logs.String(), "\n") {
			var r struct {
				Msg, Decision, Step, Reason string
				Status                      int
			}
			if json.Unmarshal([]byte(line), &r) != nil || r.Msg != "request" {
				continue
			}
			v := verdict{Decision: r.Decision, Step: r.Step, Reason: r.Reason}
			if r.Decision == "deny" {
				v.Status = r.Status
			}
			recs = append(recs, v)
		}
		if len(recs) >= n {
			return recs[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the filter logged %d request records, want %d", len(recs), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// engineExecCreate makes an exec on the engine's own socket, as an admin
// would, and returns its id.
func engineExecCreate(t *testing.T, e env, container string) string {
	t.Helper()
	resp, body := holeReq(t, e.engineSock, "POST", "/v1.41/containers/"+container+"/exec", "application/json", `{"Cmd":["true"]}`)
	id := createdID(body)
	if resp.StatusCode != 201 || id == "" {
		t.Fatalf("exec create on the engine: %d %s", resp.StatusCode, body)
	}
	return id
}
