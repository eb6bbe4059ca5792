package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessionhttp"
)

// decodeJSON reads the request body into dst with the strictness an
// authentication API needs: Content-Type application/json (415), at most
// maxBodyBytes (413), valid UTF-8 (encoding/json would silently replace
// invalid bytes), one JSON object with no unknown fields and nothing after it
// (400).
func decodeJSON(r *http.Request, dst any) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return sessiond.Errorf(sessionhttp.CodeBodyTooLarge, "request body larger than %d bytes", maxBodyBytes)
		}
		return sessiond.Errorf(sessionhttp.CodeMalformedJSON, "could not read the request body")
	}
	return DecodeStrict(body, dst)
}

// DecodeStrict decodes body into dst: exactly one JSON object, valid UTF-8,
// no unknown fields, no trailing data. Before any decoding, the body is
// checked with sessiond.CheckJSON (SEC-30): at most sessiond.MaxJSONDepth
// deep, no duplicate or case-variant keys at any depth (the "data" of a
// patch included), no unpaired surrogate escapes. Then every key of an
// object decoded into a struct must be one of its fields exactly as
// written: encoding/json alone would take "Email" for "email". Errors are
// *sessiond.Error with code malformed_json (not JSON) or invalid_input.
//
// A token-level check with the standard library was chosen over
// github.com/go-json-experiment/json: the root package, which merges
// session data, may import only the standard library, and neither parser
// bounds nesting below 10,000 levels, so the check was needed anyway.
func DecodeStrict(body []byte, dst any) error {
	if !utf8.Valid(body) {
		return sessiond.Errorf(sessionhttp.CodeMalformedJSON, "request body is not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return sessiond.Errorf(sessionhttp.CodeMalformedJSON, "request body must be a JSON object")
	}
	if err := sessiond.CheckJSON(body, sessiond.MaxJSONDepth); err != nil {
		var e *sessiond.Error
		if errors.As(err, &e) {
			return err
		}
		return sessiond.Errorf(sessionhttp.CodeMalformedJSON, "request body is not valid JSON")
	}
	if err := exactFields(body, reflect.TypeOf(dst)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return sessiond.Errorf(sessiond.CodeInvalidInput, "field %q must be %s", typeErr.Field, typeErr.Type)
		}
		// encoding/json has no error type for an unknown field; its
		// message is the only way to name the field for the caller.
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return sessiond.Errorf(sessiond.CodeInvalidInput, "unknown field %s", field)
		}
		return sessiond.Errorf(sessionhttp.CodeMalformedJSON, "request body is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return sessiond.Errorf(sessionhttp.CodeMalformedJSON, "request body has data after the JSON object")
	}
	return nil
}

// exactFields refuses a key of the JSON object raw that is not, exactly as
// written, the JSON name of a field of the struct t (after pointers), and
// checks the objects of struct-typed fields the same way. Other types (maps,
// json.RawMessage) take any key. raw has passed sessiond.CheckJSON.
func exactFields(raw []byte, t reflect.Type) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil {
		return nil // not an object: Decode reports the type
	}
	fields := jsonFields(t)
	for key, v := range members {
		ft, ok := fields[key]
		if !ok {
			for name := range fields {
				if strings.EqualFold(name, key) {
					return sessiond.Errorf(sessiond.CodeInvalidInput, "unknown field %q (field names are case-sensitive: %q)", key, name)
				}
			}
			return sessiond.Errorf(sessiond.CodeInvalidInput, "unknown field %q", key)
		}
		if err := exactFields(v, ft); err != nil {
			return err
		}
	}
	return nil
}

// jsonFields maps the JSON names of the exported fields of struct t to
// their types, as encoding/json names them (tag name, else field name).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type, t.NumField())
	for f := range t.Fields() {
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			maps.Copy(fields, jsonFields(f.Type)) // promoted fields
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

func requireJSON(r *http.Request) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return sessiond.Errorf(sessionhttp.CodeUnsupportedMedia, "Content-Type must be application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return sessiond.Errorf(sessionhttp.CodeUnsupportedMedia, "charset must be utf-8, not %s", cs)
	}
	return nil
}
