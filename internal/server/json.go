package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
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
// no unknown fields, no trailing data. Errors are *sessiond.Error with code
// malformed_json or invalid_input.
func DecodeStrict(body []byte, dst any) error {
	if !utf8.Valid(body) {
		return sessiond.Errorf(sessionhttp.CodeMalformedJSON, "request body is not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return sessiond.Errorf(sessionhttp.CodeMalformedJSON, "request body must be a JSON object")
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
