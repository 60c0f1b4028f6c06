package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/docker-socket-filter/docker-socket-filter/config"
	"github.com/docker-socket-filter/docker-socket-filter/filter"
	"github.com/docker-socket-filter/docker-socket-filter/learn"
)

// suggest prints the policy the learn records call for, or, with
// --merge, an existing policy widened where they show a need.
func suggest(args []string, lookup func(string) (string, bool), now func() time.Time, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("suggest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: docker-socket-filter suggest [--since DURATION] [--merge FILE] [--state-dir DIR]")
		fs.PrintDefaults()
	}
	since := fs.Duration("since", 0, "only what was seen in the last `duration` (24h, 90m); 0 for every record")
	merge := fs.String("merge", "", "policy `file` to fold the suggestion into, widening it only where the records show a need")
	dir := fs.String("state-dir", defaultStateDir(lookup), "`directory` of the learn records, as serve's")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 || *since < 0 {
		fs.Usage()
		return exitUsage
	}
	state, err := learn.Load(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "docker-socket-filter: %v\n", err)
		return exitUsage
	}
	table, err := filter.NewRouteTable()
	if err != nil {
		fmt.Fprintf(stderr, "docker-socket-filter: %v\n", err)
		return exitUsage
	}
	o := learn.SuggestOptions{Source: filepath.Join(*dir, learn.StateFile), Resolver: config.SystemResolver{}}
	if *since > 0 {
		o.Since = now().Add(-*since)
	}
	var out []byte
	if *merge != "" {
		existing, rerr := os.ReadFile(*merge)
		if rerr != nil {
			fmt.Fprintf(stderr, "docker-socket-filter: --merge: %v\n", rerr)
			return exitUsage
		}
		out, err = learn.Merge(state, existing, *merge, table, o)
	} else {
		out, err = learn.Suggest(state, table, o)
	}
	if err != nil {
		fmt.Fprintf(stderr, "docker-socket-filter: %v\n", err)
		return exitUsage
	}
	stdout.Write(out)
	return exitOK
}
