// Command peerclient is the tests' caller inside containers: a static
// binary that GETs paths over one unix socket connection and prints each
// answer's status and body.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	sock := flag.String("sock", "/f/f.sock", "socket to connect to")
	paths := flag.String("paths", "/_ping", "comma-separated paths to GET in turn on one connection")
	wait := flag.Bool("wait", false, "read a line from standard input before each request after the first")
	setuid := flag.Int("setuid", -1, "take this uid before connecting")
	handoff := flag.Bool("handoff", false, "ask the first path, then hand the connection to a child and exit: the child asks the rest once this process is gone")
	join := flag.String("join", "", "after the first answer, move this process into this cgroup directory and ask the rest on a new connection")
	childFD := flag.Int("child-fd", -1, "internal: the connection handed over, and the pid to outlive")
	parent := flag.Int("parent", 0, "internal: the pid to outlive")
	sleep := flag.Bool("sleep", false, "wait for a signal, as a container's main process")
	flag.Parse()
	if *sleep {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		<-ch
		return
	}
	if *setuid >= 0 {
		if err := syscall.Setuid(*setuid); err != nil {
			fail(err)
		}
	}
	var conn net.Conn
	var err error
	switch {
	case *childFD >= 0:
		// Ask only once the process that connected is gone.
		if pidfd, err := unix.PidfdOpen(*parent, 0); err == nil {
			unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, -1)
		}
		conn, err = net.FileConn(os.NewFile(uintptr(*childFD), "conn"))
	default:
		conn, err = net.Dial("unix", *sock)
	}
	if err != nil {
		fail(err)
	}
	br := bufio.NewReader(conn)
	in := bufio.NewReader(os.Stdin)
	all := strings.Split(*paths, ",")
	for i, p := range all {
		if i > 0 && *wait {
			if _, err := in.ReadString('\n'); err != nil {
				fail(err)
			}
		}
		if i > 0 && *handoff {
			handOff(conn, all[i:])
			return
		}
		if i == 1 && *join != "" {
			if err := os.WriteFile(*join+"/cgroup.procs", []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
				fail(err)
			}
			conn.Close()
			if conn, err = net.Dial("unix", *sock); err != nil {
				fail(err)
			}
			br = bufio.NewReader(conn)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: docker\r\n\r\n", p)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			fail(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("STATUS %d %s\n", resp.StatusCode, strings.TrimSpace(string(body)))
		if resp.Close {
			// A caller that may do nothing is not kept connected: the
			// next request goes on a new connection, from this process.
			conn.Close()
			if conn, err = net.Dial("unix", *sock); err != nil {
				fail(err)
			}
			br = bufio.NewReader(conn)
		}
	}
}

// handOff gives conn to a child that asks paths once this process is gone.
func handOff(conn net.Conn, paths []string) {
	f, err := conn.(*net.UnixConn).File()
	if err != nil {
		fail(err)
	}
	cmd := exec.Command(os.Args[0], "-child-fd", "3", "-parent", strconv.Itoa(os.Getpid()), "-paths", strings.Join(paths, ","))
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "peerclient:", err)
	os.Exit(1)
}
