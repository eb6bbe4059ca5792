package sessiond

import (
	"bytes"
	"encoding/json"
	"slices"
)

// MergePatch applies patch to doc as a JSON merge patch (RFC 7386) and
// returns the result. Both must be JSON objects (doc may be empty); members of
// patch that are null delete keys, objects merge recursively, and anything
// else replaces.
func MergePatch(doc, patch json.RawMessage) (json.RawMessage, error) {
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
			merged, err := MergePatch(d[k], v)
			if err != nil {
				return nil, err
			}
			d[k] = merged
		case isObject(v):
			// An object patched onto nothing still drops its nulls.
			merged, err := MergePatch(nil, v)
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
