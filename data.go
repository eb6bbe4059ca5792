package sessiond

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
)

// MergePatch applies patch to doc as a JSON merge patch (RFC 7386) and
// returns the result. Both must be JSON objects (doc may be empty); members of
// patch that are null delete keys, objects merge recursively, and anything
// else replaces.
//
// patch is checked first with CheckJSON (SEC-30): at most MaxJSONDepth deep,
// no duplicate or case-variant keys. The merge decodes every nested level
// again, so its work is the size times the depth: unchecked, a 60 KB patch
// nested 10,000 deep cost seconds of CPU. doc is not checked: the merge
// descends into it only as deep as the patch does, and stored data was
// checked when it was written.
func MergePatch(doc, patch json.RawMessage) (json.RawMessage, error) {
	if err := CheckJSON(patch, MaxJSONDepth); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, Errorf(CodeInvalidInput, "data: %s", e.Message)
		}
		return nil, Errorf(CodeInvalidInput, "data is not valid JSON")
	}
	return mergePatch(doc, patch)
}

func mergePatch(doc, patch json.RawMessage) (json.RawMessage, error) {
	var p map[string]json.RawMessage
	if err := json.Unmarshal(patch, &p); err != nil || p == nil {
		return nil, Errorf(CodeInvalidInput, "data must be a JSON object")
	}
	var d map[string]json.RawMessage
	if len(bytes.TrimSpace(doc)) > 0 {
		if err := json.Unmarshal(doc, &d); err != nil {
			return nil, Errorf(CodeInvalidInput, "stored data is not a JSON object")
		}
	}
	if d == nil {
		d = make(map[string]json.RawMessage, len(p))
	}
	for k, v := range p {
		switch {
		case isNull(v):
			delete(d, k)
		case isObject(v) && isObject(d[k]):
			merged, err := mergePatch(d[k], v)
			if err != nil {
				return nil, err
			}
			d[k] = merged
		case isObject(v):
			// An object patched onto nothing still drops its nulls.
			merged, err := mergePatch(nil, v)
			if err != nil {
				return nil, err
			}
			d[k] = merged
		default:
			d[k] = v
		}
	}
	// Marshal compacts the members and sorts the keys: stored data is
	// canonical whatever order it came in.
	out, err := json.Marshal(d)
	if err != nil {
		return nil, Errorf(CodeInvalidInput, "data is not valid JSON")
	}
	return out, nil
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

func isObject(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '{'
}

// sortByActivity orders sessions most recently active first, then by id so
// that the order is stable.
func sortByActivity(ss []*Session) {
	slices.SortFunc(ss, func(a, b *Session) int {
		if c := b.LastActivity.Compare(a.LastActivity); c != 0 {
			return c
		}
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
}
