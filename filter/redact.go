package filter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
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

// Rewrites reports whether the view changes an answer of that kind.
func (v *View) Rewrites(k AnswerKind) bool {
	switch k {
	case AnswerContainer:
		return v.RedactEnv || v.LabelKey != ""
	case AnswerContainerList, AnswerEvents:
		return v.LabelKey != ""
	}
	return v.RedactEnv && (len(envPaths(k)) > 0 || len(stepPaths(k)) > 0)
}

// Streamed reports answers rewritten as they stream, one entry at a
// time; the others are read whole.
func (k AnswerKind) Streamed() bool { return k == AnswerContainerList || k == AnswerEvents }

// Describe says what the view does to an answer of that kind, for
// explain: "" when nothing.
func (v *View) Describe(k AnswerKind) string {
	if !v.Rewrites(k) {
		return ""
	}
	var parts []string
	if v.LabelKey != "" && (k == AnswerContainer || k == AnswerContainerList || k == AnswerEvents) {
		label := v.LabelKey
		if v.HasValue {
			label += "=" + v.LabelValue
		}
		parts = append(parts, "containers without label "+label+" hidden")
	}
	if v.RedactEnv && (len(envPaths(k)) > 0 || len(stepPaths(k)) > 0) {
		parts = append(parts, "environment values redacted")
	}
	return strings.Join(parts, ", ")
}

// envPaths are where an answer of each kind holds environment lists
// ("NAME=value" strings), as paths of object keys from each answered
// object (each entry, for lists).
func envPaths(k AnswerKind) [][]string {
	switch k {
	case AnswerContainer:
		return [][]string{{"Config", "Env"}}
	case AnswerService, AnswerServiceList:
		return [][]string{
			{"Spec", "TaskTemplate", "ContainerSpec", "Env"},
			{"PreviousSpec", "TaskTemplate", "ContainerSpec", "Env"},
		}
	case AnswerTask, AnswerTaskList:
		return [][]string{{"Spec", "ContainerSpec", "Env"}}
	case AnswerImage:
		return [][]string{{"Config", "Env"}, {"ContainerConfig", "Env"}}
	case AnswerPlugin, AnswerPluginList:
		// Settings.Env holds what PluginSet gave ("NAME=value"), and
		// Config.Env the manifest's defaults as objects with a Value.
		return [][]string{{"Settings", "Env"}, {"Config", "Env"}}
	}
	return nil
}

// stepPaths are where an answer of each kind holds build steps, as the
// legacy builder and BuildKit record them ("/bin/sh -c #(nop)  ENV K=v",
// "ARG K=v", "|1 K=v /bin/sh -c ..."): an image's last step in its Cmd,
// every step in its history.
func stepPaths(k AnswerKind) [][]string {
	switch k {
	case AnswerImage:
		return [][]string{{"Config", "Cmd"}, {"ContainerConfig", "Cmd"}}
	case AnswerImageHistory:
		return [][]string{{"CreatedBy"}}
	}
	return nil
}

// RewriteAnswer applies the view to an answer read whole. hidden reports
// a container the caller must not see (answer 404 instead).
func (v *View) RewriteAnswer(k AnswerKind, body []byte) (out []byte, hidden bool, err error) {
	var doc any
	if err := decodeJSON(body, &doc); err != nil {
		return nil, false, err
	}
	objects := []any{doc}
	if k == AnswerServiceList || k == AnswerTaskList || k == AnswerPluginList || k == AnswerImageHistory {
		list, ok := doc.([]any)
		if !ok {
			return nil, false, fmt.Errorf("engine answer is not a JSON list")
		}
		objects = list
	}
	for _, o := range objects {
		obj, _ := o.(map[string]any)
		if k == AnswerContainer && !v.visible(labelsOf(obj)) {
			return nil, true, nil
		}
		if v.RedactEnv {
			for _, p := range envPaths(k) {
				redactEnv(obj, p)
			}
			for _, p := range stepPaths(k) {
				redactSteps(obj, p)
			}
		}
	}
	out, err = json.Marshal(doc)
	if err != nil {
		return nil, false, fmt.Errorf("re-encode the answer: %w", err)
	}
	return append(out, '\n'), false, nil
}

// parentOf walks path's object keys but the last from obj and returns the
// object holding the last, or nil when the answer has no such object.
func parentOf(obj map[string]any, path []string) (map[string]any, string) {
	for _, k := range path[:len(path)-1] {
		next, ok := obj[k].(map[string]any)
		if !ok {
			return nil, ""
		}
		obj = next
	}
	return obj, path[len(path)-1]
}

// redactSteps redacts the values a build step at path names: a string,
// or each string of a list.
func redactSteps(obj map[string]any, path []string) {
	obj, last := parentOf(obj, path)
	switch v := obj[last].(type) {
	case string:
		obj[last] = redactStep(v)
	case []any:
		for i, e := range v {
			if s, ok := e.(string); ok {
				v[i] = redactStep(s)
			}
		}
	}
}

// redactStep keeps a build step's instruction and replaces the values it
// sets: everything after ENV or ARG, and the build arguments "|N k=v"
// a RUN step begins with.
func redactStep(step string) string {
	fields := strings.Fields(step)
	for i, f := range fields {
		switch {
		case f == "ENV" || f == "ARG":
			if i+1 < len(fields) {
				return strings.Join(append(fields[:i+1], RedactedValue), " ")
			}
			return step
		case strings.HasPrefix(f, "|"):
			n, err := strconv.Atoi(f[1:])
			if err != nil {
				continue
			}
			for j := i + 1; j <= i+n && j < len(fields); j++ {
				name, _, _ := strings.Cut(fields[j], "=")
				fields[j] = name + "=" + RedactedValue
			}
			return strings.Join(fields, " ")
		}
		// Only the words before the step's own command may be an
		// instruction: "/bin/sh -c #(nop) ENV ..." or "RUN |1 ...".
		if f != "/bin/sh" && f != "-c" && f != "#(nop)" && f != "RUN" {
			return step
		}
	}
	return step
}

func labelsOf(obj map[string]any) map[string]any {
	cfg, _ := obj["Config"].(map[string]any)
	labels, _ := cfg["Labels"].(map[string]any)
	return labels
}

// redactEnv replaces the values of the environment list at path, keeping
// the names: "NAME=value" strings, or objects with a Value.
func redactEnv(obj map[string]any, path []string) {
	obj, last := parentOf(obj, path)
	env, ok := obj[last].([]any)
	if !ok {
		return
	}
	for i, e := range env {
		if obj, ok := e.(map[string]any); ok {
			if _, has := obj["Value"]; has {
				obj["Value"] = RedactedValue
			}
			continue
		}
		s, _ := e.(string)
		name, _, _ := strings.Cut(s, "=")
		env[i] = name + "=" + RedactedValue
	}
}

func (v *View) visible(labels map[string]any) bool {
	if v.LabelKey == "" {
		return true
	}
	got, ok := labels[v.LabelKey].(string)
	return ok && (!v.HasValue || got == v.LabelValue)
}

// labelShows is visible for a label's raw JSON value, nil if the
// container lacks the label: only a string value counts.
func (v *View) labelShows(value []byte) bool {
	if v.LabelKey == "" {
		return true
	}
	return len(value) > 0 && value[0] == '"' && (!v.HasValue || jsonStringIs(value, v.LabelValue))
}

func decodeJSON(body []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return fmt.Errorf("engine answer is not JSON: %w", err)
	}
	return nil
}

// FilterList copies a ContainerList answer from src to dst, one
// container at a time, without those the view hides. Memory stays that of
// one entry, however long the list. An entry over MaxListEntry (a
// container given a label that large) is read through without being held
// and left out, rather than failing the list for every caller:
// FilterList returns how many were.
func (v *View) FilterList(dst io.Writer, src io.Reader) (oversized int, err error) {
	l := listReader{br: bufio.NewReaderSize(src, 32<<10)}
	if err := l.open(); err != nil {
		return 0, err
	}
	if _, err := io.WriteString(dst, "["); err != nil {
		return 0, err
	}
	shown := false
	for first := true; ; first = false {
		entry, err := l.next(first)
		if errors.Is(err, errOverBound) {
			oversized++
			continue
		}
		if err != nil {
			return oversized, err
		}
		if entry == nil {
			break
		}
		label, err := labelValue(entry, v.LabelKey)
		if err != nil {
			return oversized, err
		}
		if !v.labelShows(label) {
			continue
		}
		if shown {
			if _, err := io.WriteString(dst, ","); err != nil {
				return oversized, err
			}
		}
		shown = true
		if _, err := dst.Write(entry); err != nil {
			return oversized, err
		}
	}
	_, err = io.WriteString(dst, "]\n")
	return oversized, err
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
