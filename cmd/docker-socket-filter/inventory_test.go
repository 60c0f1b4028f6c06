package main

import (
	"os"
	"strings"
	"testing"
)

// TestInventoryIsCurrent keeps docs/inventory.md what `inventory` prints
// from the route table, so the document cannot drift from the code.
func TestInventoryIsCurrent(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := inventory(&stdout, &stderr); code != exitOK {
		t.Fatalf("inventory: exit %d: %s", code, stderr.String())
	}
	doc, err := os.ReadFile("../../docs/inventory.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != stdout.String() {
		t.Errorf("docs/inventory.md is not the inventory's output: run `go run ./cmd/docker-socket-filter inventory > docs/inventory.md`")
	}
	for _, want := range []string{"| ContainerTop |", "`ps_args` (no environment when env is redacted)", "| SwarmInspect | `GET /swarm` | own id only (sensitive)"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("inventory lacks %q", want)
		}
	}
}
