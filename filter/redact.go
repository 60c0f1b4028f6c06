package filter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// View is what a profile lets a caller see of the engine's answers: which
// containers exist for it, and whether their environment values show.
// The zero value changes nothing.
type View struct {
	// RedactEnv replaces the values of container environment variables
	// in ContainerInspect answers, keeping the names.
	RedactEnv bool
	// LabelKey and LabelValue hide every container that does not carry
	// the label (with that value, when LabelValue is set) from
	// ContainerList, ContainerInspect and container events.
	LabelKey   string
	LabelValue string
	HasValue   bool
}

// RedactedValue stands in for an environment variable's value.
const RedactedValue = "<redacted>"

// ParseLabelRule reads "key" or "key=value".
func ParseLabelRule(s string) (View, error) {
	key, value, hasValue := strings.Cut(s, "=")
	if key == "" {
		return View{}, fmt.Errorf("label rule %q: want key or key=value", s)
	}
	return View{LabelKey: key, LabelValue: value, HasValue: hasValue}, nil
}

// Rewrites reports whether the view changes an operation's answers.
func (v *View) Rewrites(op string) bool {
	switch op {
	case "ContainerInspect":
		return v.RedactEnv || v.LabelKey != ""
	case "ContainerList", "SystemEvents":
		return v.LabelKey != ""
	}
	return false
}

func (v *View) visible(labels map[string]any) bool {
	if v.LabelKey == "" {
		return true
	}
	got, ok := labels[v.LabelKey].(string)
	return ok && (!v.HasValue || got == v.LabelValue)
}

func decodeJSON(body []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return fmt.Errorf("engine answer is not JSON: %w", err)
	}
	return nil
}

// RewriteInspect applies the view to a ContainerInspect answer. hidden
// reports a container the caller must not see (answer 404 instead).
func (v *View) RewriteInspect(body []byte) (out []byte, hidden bool, err error) {
	var doc map[string]any
	if err := decodeJSON(body, &doc); err != nil {
		return nil, false, err
	}
	cfg, _ := doc["Config"].(map[string]any)
	var labels map[string]any
	if cfg != nil {
		labels, _ = cfg["Labels"].(map[string]any)
	}
	if !v.visible(labels) {
		return nil, true, nil
	}
	if v.RedactEnv && cfg != nil {
		if env, ok := cfg["Env"].([]any); ok {
			for i, e := range env {
				s, _ := e.(string)
				name, _, _ := strings.Cut(s, "=")
				env[i] = name + "=" + RedactedValue
			}
		}
	}
	out, err = json.Marshal(doc)
	if err != nil {
		return nil, false, fmt.Errorf("re-encode the answer: %w", err)
	}
	return append(out, '\n'), false, nil
}

// FilterList copies a ContainerList answer from src to dst, one
// container at a time, without those the view hides. Memory stays that of
// one entry, however long the list.
func (v *View) FilterList(dst io.Writer, src io.Reader) error {
	dec := json.NewDecoder(src)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return fmt.Errorf("engine answer is not a JSON list (%v)", err)
	}
	if _, err := io.WriteString(dst, "["); err != nil {
		return err
	}
	first := true
	for dec.More() {
		var entry json.RawMessage
		if err := dec.Decode(&entry); err != nil {
			return fmt.Errorf("engine answer: %w", err)
		}
		var c struct{ Labels map[string]any }
		if err := json.Unmarshal(entry, &c); err != nil {
			return fmt.Errorf("engine answer: %w", err)
		}
		if !v.visible(c.Labels) {
			continue
		}
		if !first {
			if _, err := io.WriteString(dst, ","); err != nil {
				return err
			}
		}
		first = false
		if _, err := dst.Write(entry); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("engine answer: %w", err)
	}
	_, err := io.WriteString(dst, "]\n")
	return err
}

// EventVisible reports whether an event (one JSON object of the events
// stream) may reach the caller: container events carry the container's
// labels among the actor's attributes. An event that cannot be read is
// not shown.
func (v *View) EventVisible(event []byte) bool {
	if v.LabelKey == "" {
		return true
	}
	var e struct {
		Type  string
		Actor struct {
			Attributes map[string]any
		}
	}
	if err := json.Unmarshal(event, &e); err != nil {
		return false
	}
	if e.Type == "container" {
		return v.visible(e.Actor.Attributes)
	}
	// Network and volume events name the container they concern
	// without carrying its labels: shown only when they name none.
	_, names := e.Actor.Attributes["container"]
	return !names
}
