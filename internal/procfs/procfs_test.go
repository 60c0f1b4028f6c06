package procfs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	long := filepath.Join(dir, "long")
	if err := os.WriteFile(long, bytes.Repeat([]byte("0123456789"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	// Short reads that do not end a line are read on.
	unended := filepath.Join(dir, "unended")
	if err := os.WriteFile(unended, bytes.Repeat([]byte("0123456789"), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/proc/self/cgroup", "/proc/self/status", "/proc/self/limits", long, unended, empty} {
		t.Run(path, func(t *testing.T) {
			got, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// /proc/self/status changes between reads (its memory
			// figures); its first line does not.
			if strings.HasPrefix(path, "/proc/self/status") {
				got, want = got[:bytes.IndexByte(got, '\n')], want[:bytes.IndexByte(want, '\n')]
			}
			if !bytes.Equal(got, want) {
				t.Errorf("read %d bytes %q..., os.ReadFile %d", len(got), got[:min(len(got), 40)], len(want))
			}
		})
	}
}

func TestReadFileErrors(t *testing.T) {
	_, err := ReadFile("/proc/0/cgroup")
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Path != "/proc/0/cgroup" {
		t.Errorf("a pid that is not there: %v, want a path error that is fs.ErrNotExist", err)
	}
	if _, err := ReadFile(t.TempDir()); err == nil {
		t.Error("a directory read as a file: no error")
	}
}
