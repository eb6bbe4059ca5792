package sessiond

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxJSONDepth is how deeply the objects and arrays of a request body or of
// session data may nest (SEC-30): {} is 1 deep, {"a":{}} 2. Work that
// revisits nested values (the merge patch decodes each level again) then
// grows with the size only, not with size times depth.
const MaxJSONDepth = 32

// CheckJSON checks b before anything decodes it (SEC-30): it must be one
// JSON value of valid UTF-8, its objects and arrays nested at most maxDepth
// deep, no object holding two keys that are equal or equal but for case
// ("a" and "\u0061", "id" and "ID": parsers disagree on which one wins, and
// encoding/json matches struct fields whatever their case), and no string
// holding an unpaired surrogate escape ("\ud800", which decoders silently
// replace with U+FFFD, so that two different inputs become one). The scan
// stops at the first problem, so its work is bounded by the offending
// prefix.
//
// A problem of nesting, keys or escapes is an *Error with CodeInvalidInput
// that names it; input that is not JSON at all gives another error (from
// encoding/json), so that callers can tell malformed input from refused
// input.
func CheckJSON(b []byte, maxDepth int) error {
	if !utf8.Valid(b) {
		return errors.New("json: invalid UTF-8")
	}
	if err := checkSurrogates(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers are only skipped: no float conversion
	// One entry per open object or array.
	type container struct {
		keys    map[string]string // case-folded key to the key as written; nil for an array
		keyNext bool              // in an object: the next token is a key
	}
	var open []container
	for {
		tok, err := dec.Token()
		if err == io.EOF && len(open) > 0 {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		d, isDelim := tok.(json.Delim)
		top := len(open) - 1
		switch {
		case isDelim && (d == '}' || d == ']'):
			open = open[:top]
		case top >= 0 && open[top].keys != nil && open[top].keyNext:
			key := tok.(string)
			folded := foldKey(key)
			if prev, dup := open[top].keys[folded]; dup {
				if prev == key {
					return Errorf(CodeInvalidInput, "duplicate key %q", key)
				}
				return Errorf(CodeInvalidInput, "keys %q and %q differ only in case", prev, key)
			}
			open[top].keys[folded] = key
			open[top].keyNext = false
			continue
		default:
			if top >= 0 && open[top].keys != nil {
				open[top].keyNext = true // this value completes a member
			}
			if isDelim {
				if len(open) >= maxDepth {
					return Errorf(CodeInvalidInput, "JSON nested deeper than %d levels", maxDepth)
				}
				c := container{keyNext: true}
				if d == '{' {
					c.keys = map[string]string{}
				}
				open = append(open, c)
			}
		}
		if len(open) == 0 {
			// The one value is complete: nothing may follow it.
			if _, err := dec.Token(); err != io.EOF {
				return errors.New("json: data after the JSON value")
			}
			return nil
		}
	}
}

// foldKey maps s to one representative of the keys equal to it but for
// case: each rune becomes the smallest rune of its simple case-folding orbit
// (k, K and the Kelvin sign all become K).
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

// checkSurrogates refuses \u escapes of UTF-16 surrogates that are not a
// high one followed by a low one. Backslashes occur only inside strings in
// valid JSON, so a plain scan of the escapes is enough (anything else is a
// syntax error that the decoder reports).
func checkSurrogates(b []byte) error {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 >= len(b) {
			return nil
		}
		if b[i+1] != 'u' {
			i++ // \" \\ \/ and the rest: skip the escaped byte
			continue
		}
		r, ok := hex4(b[i+2:])
		if !ok {
			return nil // a syntax error, for the decoder to report
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if len(b) >= i+12 && b[i+6] == '\\' && b[i+7] == 'u' {
				if lo, ok := hex4(b[i+8:]); ok && lo >= 0xDC00 && lo < 0xE000 {
					i += 11
					continue
				}
			}
			return Errorf(CodeInvalidInput, "a string holds an unpaired surrogate escape (\\u%04x)", r)
		case r >= 0xDC00 && r < 0xE000:
			return Errorf(CodeInvalidInput, "a string holds an unpaired surrogate escape (\\u%04x)", r)
		}
		i += 5
	}
	return nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
