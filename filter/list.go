package filter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// errNotList is an engine answer that is not a JSON list of values.
var errNotList = errors.New("engine answer is not a JSON list")

// listReader cuts a JSON list into its elements as they stream in,
// tracking only strings and nesting: each element is then checked whole
// with json.Valid, so that nothing the scanner took for an element's end
// can be a quote or bracket inside a string.
type listReader struct {
	br   *bufio.Reader
	elem []byte
	// size is the length of the element being read, elem only its
	// start once it is over the bound.
	size int
	// limit bounds one element; 0 means MaxListEntry.
	limit int
}

// skipSpace returns the next byte that is not JSON whitespace.
func (l *listReader) skipSpace() (byte, error) {
	for {
		c, err := l.br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c, nil
	}
}

// open reads the list's opening bracket.
func (l *listReader) open() error {
	c, err := l.skipSpace()
	if err != nil {
		return fmt.Errorf("%w (%w)", errNotList, err)
	}
	if c != '[' {
		return errNotList
	}
	return nil
}

// next returns the next element, valid JSON, or nil at the list's end.
// The element is only good until the next call. An element over the
// bound is read to its end but not kept: next then fails with
// errOverBound, and the list can be read on.
func (l *listReader) next(first bool) ([]byte, error) {
	c, err := l.skipSpace()
	if err != nil {
		return nil, unexpected(err)
	}
	if c == ']' {
		return nil, nil
	}
	if !first {
		if c != ',' {
			return nil, fmt.Errorf("engine answer: %q between list elements", c)
		}
		if c, err = l.skipSpace(); err != nil {
			return nil, unexpected(err)
		}
	}
	l.elem, l.size = l.elem[:0], 0
	l.add(c)
	depth := 0
	switch c {
	case '{', '[':
		depth = 1
	case '"':
		if err := l.str(); err != nil {
			return nil, err
		}
	default:
		// A literal runs to the next delimiter, which is put back.
		for {
			c, err := l.br.ReadByte()
			if err != nil {
				return nil, unexpected(err)
			}
			if c == ',' || c == ']' || c == ' ' || c == '\t' || c == '\r' || c == '\n' {
				l.br.UnreadByte()
				break
			}
			l.add(c)
		}
	}
	for depth > 0 {
		c, err := l.br.ReadByte()
		if err != nil {
			return nil, unexpected(err)
		}
		l.add(c)
		switch c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			if err := l.str(); err != nil {
				return nil, err
			}
		}
	}
	if l.size > l.bound() {
		return nil, fmt.Errorf("%w: %d bytes", errOverBound, l.size)
	}
	if !json.Valid(l.elem) {
		return nil, errors.New("engine answer: list element is not JSON")
	}
	return l.elem, nil
}

// str reads the rest of a string whose opening quote was read.
func (l *listReader) str() error {
	escaping := false // the bytes read so far end in an odd run of backslashes
	for {
		s, err := l.br.ReadSlice('"')
		l.add(s...)
		if errors.Is(err, bufio.ErrBufferFull) {
			escaping = endsEscaping(s, escaping)
			continue
		}
		if err != nil {
			return unexpected(err)
		}
		// The quote ends the string unless an odd run of backslashes
		// escapes it.
		if !endsEscaping(s[:len(s)-1], escaping) {
			return nil
		}
		escaping = false
	}
}

// endsEscaping reports whether b, read after bytes that ended escaping
// or not (before), ends in an odd run of backslashes.
func endsEscaping(b []byte, before bool) bool {
	n := 0
	for n < len(b) && b[len(b)-1-n] == '\\' {
		n++
	}
	if n == len(b) {
		return before != (n%2 == 1)
	}
	return n%2 == 1
}

// MaxListEntry bounds one element of a list read element by element: a
// view leaves out a container whose entry is longer.
const MaxListEntry = 32 << 20

// errOverBound is a list element over the bound.
var errOverBound = fmt.Errorf("engine answer: list element over %d MiB", MaxListEntry>>20)

func (l *listReader) bound() int {
	if l.limit == 0 {
		return MaxListEntry
	}
	return l.limit
}

// add takes bytes of the element: kept while the element is within the
// bound, then only counted, so that an element far over it, one long
// label say, is never held whole.
func (l *listReader) add(b ...byte) {
	l.size += len(b)
	switch {
	case l.size <= l.bound():
		l.elem = append(l.elem, b...)
	case len(l.elem) > 0:
		l.elem = l.elem[:0]
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("engine answer: %w", err)
}

// labelValue returns the JSON value a valid JSON object's Labels give
// key, as decoding the object into a struct with a field Labels
// map[string]json.RawMessage would: the Labels key matched as
// encoding/json matches a field (case folded), a Labels given twice
// merged into one map and a null one emptying it, the last of a label
// given twice winning. It is nil for an object whose labels lack key.
// Only the Labels' keys are looked at: no label is decoded.
func labelValue(obj []byte, key string) ([]byte, error) {
	i := skipWS(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		if string(obj[i:]) == "null" {
			return nil, nil
		}
		return nil, errors.New("engine answer: list element is not an object")
	}
	var value []byte
	for i++; ; {
		var k, v []byte
		if k, v, i = member(obj, i); k == nil {
			return value, nil
		}
		if !isLabelsKey(k) {
			continue
		}
		switch v[0] {
		case 'n':
			value = nil
		case '{':
			for j := 1; ; {
				var lk, lv []byte
				if lk, lv, j = member(v, j); lk == nil {
					break
				}
				if jsonStringIs(lk, key) {
					value = lv
				}
			}
		default:
			return nil, fmt.Errorf("engine answer: Labels is %.20s, not an object", v)
		}
	}
}

// member returns the key and value of a valid JSON object's member that
// starts at i (after the opening brace or a member), and where the next
// one starts; a nil key at the object's end.
func member(obj []byte, i int) (key, value []byte, next int) {
	i = skipWS(obj, i)
	if obj[i] == ',' {
		i = skipWS(obj, i+1)
	}
	if obj[i] == '}' {
		return nil, nil, i
	}
	kstart := i
	i = skipValue(obj, i)
	key = obj[kstart:i]
	i = skipWS(obj, skipWS(obj, i)+1) // past the colon
	vstart := i
	i = skipValue(obj, i)
	return key, obj[vstart:i], i
}

// jsonStringIs reports whether a valid quoted JSON string decodes, as
// encoding/json decodes it (invalid UTF-8 included), to want.
func jsonStringIs(quoted []byte, want string) bool {
	if inner, ok := plainString(quoted); ok {
		return string(inner) == want
	}
	return unquote(quoted) == want
}

// isLabelsKey reports whether a quoted key names the Labels field.
func isLabelsKey(quoted []byte) bool {
	if inner, ok := plainString(quoted); ok {
		return strings.EqualFold(string(inner), "Labels")
	}
	return strings.EqualFold(unquote(quoted), "Labels")
}

// plainString returns what is between a quoted string's quotes, if that
// is the string itself: no escapes, valid UTF-8.
func plainString(quoted []byte) ([]byte, bool) {
	inner := quoted[1 : len(quoted)-1]
	return inner, bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner)
}

func unquote(quoted []byte) string {
	var s string
	json.Unmarshal(quoted, &s)
	return s
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipValue returns the end of the valid JSON value starting at i.
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
			if depth < 0 {
				return i
			}
		case ',', ':', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}
