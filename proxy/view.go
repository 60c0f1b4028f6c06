package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

// eventBuffer sizes the buffer events are read into to be judged: one
// event is a few hundred bytes, and a longer one is read in pieces.
const eventBuffer = 1 << 10

// maxViewed bounds an inspect answer read whole to be rewritten, and one
// event of the events stream.
const maxViewed = 32 << 20

// relayViewed applies a profile's view to an answer: an inspect read
// whole, redacted or hidden, re-encoded with a new Content-Length; lists
// and events filtered as they stream, one container or event at a time,
// so that no answer's size is bounded by the filter's memory.
func (p *Proxy) relayViewed(w http.ResponseWriter, resp *http.Response, view *filter.View, d *filter.Decision) (int, error) {
	if kind := d.Route.Answer; kind.Streamed() {
		copyHeader(w.Header(), resp.Header)
		w.Header().Del("Content-Length")
		w.WriteHeader(resp.StatusCode)
		if kind == filter.AnswerContainerList {
			// A list is a document: its entries, each written on its
			// own, go out as a buffer fills.
			bw := p.listWriters.Get().(*bufio.Writer)
			bw.Reset(w)
			defer func() { bw.Reset(nil); p.listWriters.Put(bw) }()
			oversized, err := view.FilterList(bw, resp.Body)
			if oversized > 0 {
				p.log.Warn(fmt.Sprintf("container list: entries over %d MiB left out of the view", filter.MaxListEntry>>20), "operation", d.Operation(), "profile", d.ProfileName(), "left-out", oversized)
			}
			if err != nil {
				return resp.StatusCode, fmt.Errorf("%w: %w", errUpstreamCut, err)
			}
			if err := bw.Flush(); err != nil {
				return resp.StatusCode, fmt.Errorf("write to client: %w", err)
			}
			return resp.StatusCode, nil
		}
		rc := http.NewResponseController(w)
		if err := rc.Flush(); err != nil {
			return resp.StatusCode, fmt.Errorf("flush to client: %w", err)
		}
		return resp.StatusCode, p.relayEvents(w, rc.Flush, resp.Body, view)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxViewed+1))
	if err != nil {
		return p.badGateway(w, err)
	}
	if len(body) > maxViewed {
		return p.badGateway(w, fmt.Errorf("answer over %d bytes: too large to apply the profile's view", maxViewed))
	}
	out, hidden, err := view.RewriteAnswer(d.Route.Answer, body)
	if err == nil && hidden {
		// As the engine answers for a container that does not exist.
		writeJSONError(w, http.StatusNotFound, "No such container: "+d.Target.Segments[1])
		return http.StatusNotFound, nil
	}
	if err != nil {
		return p.badGateway(w, err)
	}
	copyHeader(w.Header(), resp.Header)
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(resp.StatusCode)
	if _, err := w.Write(out); err != nil {
		return resp.StatusCode, fmt.Errorf("write to client: %w", err)
	}
	return resp.StatusCode, nil
}

// relayEvents passes on the events the view shows, each flushed at once.
// The engine writes one JSON object per line.
func (p *Proxy) relayEvents(w io.Writer, flush func() error, body io.Reader, view *filter.View) error {
	br := bufio.NewReaderSize(body, eventBuffer)
	for {
		line, err := readLine(br)
		if len(bytes.TrimSpace(line)) > 0 && view.EventVisible(line) {
			if _, werr := w.Write(line); werr != nil {
				return fmt.Errorf("write to client: %w", werr)
			}
			if ferr := flush(); ferr != nil {
				return fmt.Errorf("flush to client: %w", ferr)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", errUpstreamCut, err)
		}
	}
}

// readLine reads one line, newline included, refusing lines over
// maxViewed.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxViewed {
			return nil, fmt.Errorf("event over %d bytes", maxViewed)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}
