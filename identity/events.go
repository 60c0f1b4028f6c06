package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Backoff bounds for reconnecting to the engine's event stream.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// eventFilters asks for the container events that change an identity.
const eventFilters = `{"type":["container"],"event":["die","destroy","rename"]}`

// Watch follows the engine's container events until ctx ends, dropping
// what is cached about a container when it dies, is destroyed or is
// renamed. While the stream is down nothing is cached, and it is opened
// again with a growing delay.
func (r *Resolver) Watch(ctx context.Context) {
	backoff := minBackoff
	for ctx.Err() == nil {
		started := time.Now()
		err := r.watchOnce(ctx)
		r.setLive(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = minBackoff
		}
		r.log.Warn("engine events unavailable: container identities are verified at every request until they return",
			"err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (r *Resolver) watchOnce(ctx context.Context) error {
	// Events from just before the request are replayed: one that came
	// while the engine set up the stream is not lost.
	since := time.Now().Add(-time.Second)
	q := url.Values{"filters": {eventFilters}, "since": {fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())}}
	req, err := http.NewRequestWithContext(ctx, "GET", "http://docker/events?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := r.rt.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("events: the engine answered %d", resp.StatusCode)
	}
	r.setLive(true)
	dec := json.NewDecoder(resp.Body)
	for {
		var ev struct {
			Type, Action string
			Actor        struct{ ID string }
		}
		if err := dec.Decode(&ev); err != nil {
			return fmt.Errorf("events: %w", err)
		}
		if ev.Type == "container" {
			r.invalidate(ev.Actor.ID)
			r.log.Debug("container changed: its identity is asked again", "container_id", ev.Actor.ID, "action", ev.Action)
		}
	}
}

func (r *Resolver) setLive(live bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live = live
	r.seq++
	for id, e := range r.cache {
		e.stale.Store(true)
		delete(r.cache, id)
	}
}

func (r *Resolver) invalidate(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	if e := r.cache[id]; e != nil {
		e.stale.Store(true)
		delete(r.cache, id)
	}
}
