// Command docker-socket-filter serves a filtered Docker API socket: each
// caller, known by the kernel's peer credentials, may call only what its
// profile allows; the rest never reaches the engine.
package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

const usage = `usage: docker-socket-filter [command] [flags]

commands:
  serve     serve the filtered socket (the default)
  check     validate a policy file
  explain   tell whether a peer's request would be allowed, and why
  inventory print every operation with the inputs the engine reads and how each is judged
  presets   list the built-in profiles (preset/NAME); with a NAME, what it grants
  suggest   print the policy the learn records call for (--merge: fold it into a policy)
  version   print the version

Run 'docker-socket-filter COMMAND -h' for a command's flags.
`

// Exit statuses.
const (
	exitOK     = 0
	exitDenied = 1 // explain: the request would be denied
	exitUsage  = 2 // bad flags, bad policy, failed start
)

func run(args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, lookup, stderr)
	case "check":
		return check(args, lookup, stdout, stderr)
	case "explain":
		return explain(args, lookup, stdout, stderr)
	case "inventory":
		return inventory(stdout, stderr)
	case "presets":
		return presets(args, stdout, stderr)
	case "suggest":
		return suggest(args, lookup, time.Now, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "docker-socket-filter %s\n", version)
		return exitOK
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "docker-socket-filter: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}
