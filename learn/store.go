package learn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// StateFile is the records' file name under the state directory.
const StateFile = "learn.json"

// DefaultStateDir is the daemon's state directory (the unit's
// StateDirectory=).
const DefaultStateDir = "/var/lib/docker-socket-filter"

// maxStateFile bounds the state file read back: the records' own bounds
// keep it far smaller.
const maxStateFile = 64 << 20

// Load reads the records in dir; none yet is an empty state.
func Load(dir string) (*State, error) {
	name := filepath.Join(dir, StateFile)
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{Version: StateVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("learn records: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("learn records: %w", err)
	}
	if st.Size() > maxStateFile {
		return nil, fmt.Errorf("learn records: %s is %d bytes, over %d", name, st.Size(), maxStateFile)
	}
	var s State
	if err := json.NewDecoder(f).Decode(&s); err != nil {
		return nil, fmt.Errorf("learn records: %s: %w", name, err)
	}
	if s.Version != StateVersion {
		return nil, fmt.Errorf("learn records: %s has format %d, this filter reads %d", name, s.Version, StateVersion)
	}
	return &s, nil
}

// Save writes the records to dir atomically: a temporary file, synced,
// renamed over the old one, and the directory synced, so that a crash
// leaves the old records or the new ones, never a mix.
func Save(dir string, s *State) error {
	data, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return fmt.Errorf("learn records: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("learn records: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+StateFile+".*")
	if err != nil {
		return fmt.Errorf("learn records: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("learn records: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("learn records: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("learn records: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, StateFile)); err != nil {
		return fmt.Errorf("learn records: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("learn records: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("learn records: sync %s: %w", dir, err)
	}
	return nil
}

// Flush saves the records if they changed since the last save.
func (r *Recorder) Flush(dir string) error {
	s, dirty := r.Snapshot(true)
	if !dirty {
		return nil
	}
	if err := Save(dir, s); err != nil {
		r.markDirty()
		return err
	}
	return nil
}

// FlushEvery saves the records every interval until ctx ends, then once
// more; failures go to onErr.
func (r *Recorder) FlushEvery(ctx context.Context, dir string, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := r.Flush(dir); err != nil {
				onErr(err)
			}
			return
		case <-t.C:
			if err := r.Flush(dir); err != nil {
				onErr(err)
			}
		}
	}
}
