package filter

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ErrNotCanonical is wrapped by every error of ParsePath: the path is
// refused as sent, never repaired.
var ErrNotCanonical = errors.New("path is not canonical")

// Target is a request path after canonicalisation.
type Target struct {
	// Version is the API version prefix without its "v" ("1.41"), or ""
	// for an unversioned path.
	Version string
	// Segments is the unversioned path split on '/'.
	Segments []string
	// Path is the decoded path as it will be forwarded, version included.
	// Every byte of it passed the checks, and it needs no escaping, so
	// the engine decodes it to exactly what was checked.
	Path string
}

// ParsePath decodes an escaped request path once and checks that it is
// canonical: absolute, no empty, "." or ".." segment, no encoded '/', and
// only the bytes that Docker object names, references and API versions use.
func ParsePath(escaped string) (Target, error) { return parsePath(escaped, nil) }

// parsePath is ParsePath splitting into segs' storage, which a caller that
// decides many requests keeps, so that the common path costs no
// allocation.
func parsePath(escaped string, segs []string) (Target, error) {
	if !strings.HasPrefix(escaped, "/") {
		return Target{}, fmt.Errorf("%w: it must start with '/'", ErrNotCanonical)
	}
	if strings.Contains(escaped, "%") {
		lower := strings.ToLower(escaped)
		if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
			return Target{}, fmt.Errorf("%w: encoded '/' or '\\'", ErrNotCanonical)
		}
	}
	path, err := url.PathUnescape(escaped)
	if err != nil {
		return Target{}, fmt.Errorf("%w: %w", ErrNotCanonical, err)
	}
	for rest := path[1:]; ; {
		seg, tail, more := strings.Cut(rest, "/")
		segs = append(segs, seg)
		if !more {
			break
		}
		rest = tail
	}
	for _, s := range segs {
		switch s {
		case "":
			return Target{}, fmt.Errorf("%w: empty segment ('//' or trailing '/')", ErrNotCanonical)
		case ".", "..":
			return Target{}, fmt.Errorf("%w: %q segment", ErrNotCanonical, s)
		}
		if i := strings.IndexFunc(s, notNameRune); i >= 0 {
			return Target{}, fmt.Errorf("%w: byte %q is not allowed in a path", ErrNotCanonical, s[i])
		}
	}
	t := Target{Segments: segs, Path: path}
	if v, ok := strings.CutPrefix(segs[0], "v"); ok && isVersionLike(v) {
		if !isAPIVersion(v) {
			return Target{}, fmt.Errorf("%w: malformed API version %q", ErrNotCanonical, segs[0])
		}
		if versionBelow(v, MinAPIVersion) {
			return Target{}, fmt.Errorf("%w: API version %s is below %s, the oldest served", ErrNotCanonical, v, MinAPIVersion)
		}
		t.Version = v
		t.Segments = segs[1:]
		if len(t.Segments) == 0 {
			return Target{}, fmt.Errorf("%w: nothing after the API version", ErrNotCanonical)
		}
	}
	return t, nil
}

// notNameRune reports the runes that no Docker object name, image
// reference, digest or API version contains.
func notNameRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	case r == '.', r == '_', r == '-', r == ':', r == '@', r == '+':
		return false
	}
	return true
}

// isVersionLike mirrors the engine's router, which treats a first segment
// of "v" followed by digits and dots as a version prefix.
func isVersionLike(v string) bool {
	if v == "" {
		return false
	}
	for _, c := range v {
		if c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// MinAPIVersion is the oldest API version the filter serves. Older
// versions let request bodies carry settings their operations no longer
// take (a HostConfig on ContainerStart before 1.24), which the filter's
// rules would not see; no current client speaks them.
const MinAPIVersion = "1.24"

// versionBelow compares MAJOR.MINOR[.PATCH] versions numerically.
func versionBelow(v, min string) bool {
	for range 2 {
		var a, b string
		a, v, _ = strings.Cut(v, ".")
		b, min, _ = strings.Cut(min, ".")
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		if x != y {
			return x < y
		}
	}
	return false
}

// isAPIVersion accepts MAJOR.MINOR (Docker) and MAJOR.MINOR.PATCH (Podman).
func isAPIVersion(v string) bool {
	parts := strings.Count(v, ".") + 1
	if parts < 2 || parts > 3 {
		return false
	}
	for p := range strings.SplitSeq(v, ".") {
		if p == "" || len(p) > 4 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// WithSegment returns the target with one unversioned segment replaced
// (a container name by the id it resolves to), its Path rebuilt. The
// value must itself be a canonical segment.
func (t Target) WithSegment(i int, value string) Target {
	segs := slices.Clone(t.Segments)
	segs[i] = value
	path := "/" + strings.Join(segs, "/")
	if t.Version != "" {
		path = "/v" + t.Version + path
	}
	return Target{Version: t.Version, Segments: segs, Path: path}
}
