package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// ErrBody is wrapped by every error of DecodeBody: the body is refused
// (400), never forwarded.
var ErrBody = errors.New("request body refused")

// DecodeBody decodes a JSON request body into v the way the engine does
// (encoding/json: keys match case-insensitively, the last duplicate wins)
// and refuses what the engine might read differently from the filter: two
// keys of one object that differ only in case, keys the filter's types do
// not know, and anything after the first JSON value.
func DecodeBody(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%w: empty body", ErrBody)
	}
	if err := checkKeys(data); err != nil {
		return fmt.Errorf("%w: %w", ErrBody, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrBody, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the JSON value", ErrBody)
	}
	return nil
}

// maxDepth bounds nesting, so a hostile body cannot exhaust the stack.
const maxDepth = 64

// checkKeys walks the JSON once and refuses objects whose keys collide
// when case is folded, the way encoding/json matches them to fields.
func checkKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walkValue(dec, 0); err != nil {
		return err
	}
	return nil
}

// foldKey maps each rune to the smallest rune of its case-folding orbit,
// so keys that Unicode case folding equates (as encoding/json does when it
// matches a key to a field: "Bindſ" is "Binds") fold to one string.
func foldKey(key string) string {
	return strings.Map(func(r rune) rune {
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		return min
	}, key)
}

func walkValue(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested deeper than %d", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch delim {
	case '{':
		seen := make(map[string]string)
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return fmt.Errorf("not valid JSON: %w", err)
			}
			key, _ := tok.(string)
			folded := foldKey(key)
			if prev, dup := seen[folded]; dup && prev != key {
				return fmt.Errorf("keys %q and %q differ only in case", prev, key)
			}
			seen[folded] = key
			if err := walkValue(dec, depth+1); err != nil {
				return err
			}
		}
	case '[':
		for dec.More() {
			if err := walkValue(dec, depth+1); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	return nil
}
