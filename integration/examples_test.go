package integration

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exampleRepo is the repository root, where the examples' commands run.
func exampleRepo(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// walkthrough is what an example's README tells the reader to run.
type walkthrough struct {
	checks []exampleCheck // "$ sudo docker-socket-filter check --policy P" and the line it prints
	serve  []string       // the serve command's flags
	runs   []exampleRun   // "$ sudo setpriv ... docker -H ... ARGS   # allowed|denied"
}

type exampleCheck struct{ policy, want string }

type exampleRun struct {
	setpriv, docker []string
	allowed         bool
	bySocket        bool // refused before the filter: the socket's mode and group
	line            string
}

const exampleSock = "unix:///run/docker-filtered.sock"

func readWalkthrough(t *testing.T, path string) walkthrough {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w walkthrough
	s := bufio.NewScanner(f)
	var pendingCheck string
	for s.Scan() {
		line := s.Text()
		if pendingCheck != "" {
			w.checks = append(w.checks, exampleCheck{pendingCheck, line})
			pendingCheck = ""
		}
		cmd, ok := strings.CutPrefix(line, "$ sudo ")
		if !ok {
			continue
		}
		fields := strings.Fields(cmd)
		switch {
		case len(fields) == 4 && fields[0] == "docker-socket-filter" && fields[1] == "check":
			pendingCheck = fields[3]
		case len(fields) > 2 && fields[0] == "docker-socket-filter" && fields[1] == "serve":
			w.serve = fields[2:]
		case fields[0] == "setpriv":
			r := exampleRun{line: line}
			cmd, comment, _ := strings.Cut(cmd, "#")
			switch comment = strings.TrimSpace(comment); {
			case comment == "allowed":
				r.allowed = true
			case comment == "denied":
			case strings.HasPrefix(comment, "denied by the socket"):
				r.bySocket = true
			default:
				t.Fatalf("%s: %q says neither allowed nor denied", path, line)
			}
			before, after, ok := strings.Cut(cmd, " docker -H "+exampleSock+" ")
			if !ok {
				t.Fatalf("%s: %q does not use the filtered socket", path, line)
			}
			r.setpriv = strings.Fields(before)[1:]
			r.docker = strings.Fields(after)
			w.runs = append(w.runs, r)
		}
	}
	if len(w.checks) == 0 || w.serve == nil || len(w.runs) == 0 {
		t.Fatalf("%s: found %d checks, serve %v, %d commands", path, len(w.checks), w.serve, len(w.runs))
	}
	return w
}

// ensureGroup creates a system group the example's walk-through has the
// reader create, unless it exists, and removes it afterwards.
func ensureGroup(t *testing.T, name string) {
	t.Helper()
	if exec.Command("getent", "group", name).Run() == nil {
		return
	}
	if out, err := exec.Command("groupadd", "--system", name).CombinedOutput(); err != nil {
		t.Fatalf("groupadd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("groupdel", name).Run() })
}

// ensureDir creates a directory the walk-through has the reader create,
// and removes what it created afterwards.
func ensureDir(t *testing.T, dir string) {
	t.Helper()
	top := dir
	for {
		parent := filepath.Dir(top)
		if _, err := os.Stat(parent); err == nil {
			break
		}
		top = parent
	}
	if _, err := os.Stat(top); errors.Is(err, os.ErrNotExist) {
		t.Cleanup(func() { os.RemoveAll(top) })
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestExamples brings each example's policy up in front of the test
// engine as its README says, and runs the README's commands as the uids
// it names: each must be allowed or denied as the README says. The
// README's check commands must print what it shows.
func TestExamples(t *testing.T) {
	e := testEnv(t)
	root := exampleRepo(t)
	ensureGroup(t, "ci")
	ensureDir(t, "/srv/ci/job1")
	for _, ex := range []struct {
		name       string
		containers []string // named containers the commands refer to
	}{
		{"traefik", []string{"whoami"}},
		{"dozzle", []string{"dozzle"}},
		{"ci-runner", nil},
	} {
		t.Run(ex.name, func(t *testing.T) {
			w := readWalkthrough(t, filepath.Join(root, "examples", ex.name, "README.md"))
			for _, c := range w.checks {
				out, err := runFilterIn(t, e, root, "check", "--policy", c.policy)
				if err != nil || strings.TrimSpace(out) != c.want {
					t.Errorf("check --policy %s: %v\n%s\nthe README shows %q", c.policy, err, out, c.want)
				}
			}
			var args []string
			for i := 0; i < len(w.serve); i++ {
				switch w.serve[i] {
				case "--listen":
					i++ // the test's own socket
				case "--policy":
					i++
					args = append(args, "--policy", filepath.Join(root, w.serve[i]))
				default:
					args = append(args, w.serve[i])
				}
			}
			for _, name := range ex.containers {
				cli(t, e.engineHost, nil, "rm", "-f", name)
				runContainer(t, e, "--name", name, e.image, "sleep", "300")
			}
			f := startFilter(t, e, filterOpts{args: args})
			config := shortTempDir(t)
			os.Chmod(config, 0o777)
			for _, r := range w.runs {
				docker := make([]string, 0, len(r.docker))
				for _, a := range r.docker {
					if a == "busybox" {
						a = e.image
					}
					docker = append(docker, a)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				cmd := exec.CommandContext(ctx, "setpriv", append(r.setpriv, append([]string{"docker", "-H", fmtHost(f.sock)}, docker...)...)...)
				cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+config, "DOCKER_CLI_HINTS=false")
				out, err := cmd.CombinedOutput()
				cancel()
				switch {
				case r.allowed && err != nil:
					t.Errorf("%s\nfailed: %v\n%s", r.line, err, out)
				case r.bySocket && (err == nil || !strings.Contains(string(out), "connect: permission denied")):
					t.Errorf("%s\nwas not refused by the socket: %v\n%s", r.line, err, out)
				case !r.allowed && !r.bySocket && (err == nil || !strings.Contains(string(out), "docker-socket-filter")):
					t.Errorf("%s\nwas not refused by the filter: %v\n%s", r.line, err, out)
				}
			}
		})
	}
}

// TestExamplesCheck: every policy file under examples/ passes check, on
// a machine where what the walk-throughs create exists.
func TestExamplesCheck(t *testing.T) {
	e := testEnv(t)
	root := exampleRepo(t)
	ensureGroup(t, "ci")
	var policies []string
	filepath.WalkDir(filepath.Join(root, "examples"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".yaml") && !strings.HasPrefix(filepath.Base(path), "compose") {
			policies = append(policies, path)
		}
		return err
	})
	if len(policies) < 3 {
		t.Fatalf("found %v; want every example's policy", policies)
	}
	for _, p := range policies {
		if out, err := runFilterIn(t, e, root, "check", "--policy", p); err != nil || !strings.Contains(out, ": OK: ") {
			t.Errorf("check %s: %v\n%s", p, err, out)
		}
	}
}

// runFilterIn runs the binary in dir, as the walk-throughs do from the
// repository root.
func runFilterIn(t *testing.T, e env, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.filterBin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	return string(out), err
}
