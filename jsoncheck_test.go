package sessiond_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
)

func TestCheckJSON_BoundsDepthAndRefusesDuplicateKeys_SEC30(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, c := range []struct {
		in   string
		want string // "" accepted, "syntax" not JSON, else a part of the *Error's message
	}{
		{`{}`, ""},
		{`{"a":{"b":[1,{"c":null}]},"A2":"x","s":"\ud83d\udd11 \\u0000 \u00e4"}`, ""},
		{`"just a string"`, ""},
		{deep(sessiond.MaxJSONDepth), ""},
		{deep(sessiond.MaxJSONDepth + 1), "nested deeper than 32 levels"},
		{`{"a":` + deep(sessiond.MaxJSONDepth) + `}`, "nested deeper"},
		{`{"a":1,"a":1}`, `duplicate key "a"`},
		{`{"a":1,"\u0061":1}`, `duplicate key "a"`},
		{`{"x":{"a":1,"b":{"a":2}},"y":[{"a":1},{"a":2}]}`, ""}, // equal keys in different objects
		{`[{"a":1,"b":2,"a":3}]`, `duplicate key "a"`},
		{`{"id":1,"ID":2}`, `keys "id" and "ID" differ only in case`},
		{`{"key":1,"\u212aey":2}`, "differ only in case"}, // the Kelvin sign folds to k
		{`{"s":"\ud800"}`, "unpaired surrogate"},
		{`{"s":"\udc00\ud800"}`, "unpaired surrogate"},
		{`{"\udfff":1}`, "unpaired surrogate"},
		{`{"s":"\\ud800"}`, ""}, // an escaped backslash, then text
		{`{"a":1} {"a":2}`, "syntax"},
		{`{"a":1`, "syntax"},
		{`{"a" 1}`, "syntax"},
		{"{\"a\":\"\xff\"}", "syntax"},
		{``, "syntax"},
	} {
		err := sessiond.CheckJSON([]byte(c.in), sessiond.MaxJSONDepth)
		var e *sessiond.Error
		switch {
		case c.want == "" && err != nil:
			t.Errorf("CheckJSON(%.60s): %v, want nil", c.in, err)
		case c.want == "syntax" && (err == nil || errors.As(err, &e)):
			t.Errorf("CheckJSON(%.60s): %v, want a syntax error", c.in, err)
		case c.want != "" && c.want != "syntax" && (!errors.As(err, &e) || e.Code != sessiond.CodeInvalidInput || !strings.Contains(e.Message, c.want)):
			t.Errorf("CheckJSON(%.60s): %v, want invalid_input with %q", c.in, err, c.want)
		}
	}
}

// FuzzMergePatch_SEC30 merges arbitrary patches, nested ones among them,
// into stored data: it never panics; a patch nested deeper than
// MaxJSONDepth or with duplicate keys is refused; an accepted result is a
// JSON object with no null member at the top that patching again does not
// change (RFC 7386 patches are idempotent).
func FuzzMergePatch_SEC30(f *testing.F) {
	for _, seed := range [][2]string{
		{`{}`, `{"a":1}`},
		{`{"a":{"b":1}}`, `{"a":{"b":null,"c":[1,2]}}`},
		{`{"a":1}`, `{"a":null}`},
		{``, strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)},
		{``, strings.Repeat(`{"a":`, 32) + "1" + strings.Repeat("}", 32)},
		{`{"a":{"a":{"a":1}}}`, strings.Repeat(`{"a":`, 33) + "null" + strings.Repeat("}", 33)},
		{``, `{"a":1,"a":2}`},
		{``, `{"a":{"x":1,"X":2}}`},
		{``, `{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`},
		{`{"k":"v"}`, `[1]`},
	} {
		f.Add([]byte(seed[0]), []byte(seed[1]))
	}
	f.Fuzz(func(t *testing.T, doc, patch []byte) {
		// doc stands for stored data: what an earlier merge wrote.
		stored, err := sessiond.MergePatch(nil, doc)
		if err != nil {
			stored = nil
		}
		out, err := sessiond.MergePatch(stored, patch)
		if err != nil {
			if sessiond.ErrorCode(err) != sessiond.CodeInvalidInput {
				t.Fatalf("MergePatch(%q, %q): %v, want invalid_input", stored, patch, err)
			}
			return
		}
		if d := depth(patch); d > sessiond.MaxJSONDepth {
			t.Fatalf("MergePatch accepted %q, %d deep", patch, d)
		}
		if sessiond.CheckJSON(patch, sessiond.MaxJSONDepth) != nil {
			t.Fatalf("MergePatch accepted %q, which CheckJSON refuses", patch)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil || m == nil {
			t.Fatalf("MergePatch(%q, %q) = %q, not an object", stored, patch, out)
		}
		for k, v := range m {
			if string(v) == "null" {
				t.Fatalf("MergePatch(%q, %q) = %q keeps the null member %q", stored, patch, out, k)
			}
		}
		again, err := sessiond.MergePatch(out, patch)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("patching %q again with %q gave %q, %v", out, patch, again, err)
		}
	})
}

// depth counts how deeply the brackets of JSON text b nest, outside
// strings: an oracle independent of CheckJSON.
func depth(b []byte) int {
	d, most, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			d++
			most = max(most, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return most
}
