package server_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/sessionhttp"
)

// FuzzDecodeLogin checks the strict decoder on arbitrary bodies: it never
// panics, every error is a 4xx-class *sessiond.Error, and what it accepts is
// valid UTF-8 and valid JSON.
func FuzzDecodeLogin(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		var in struct {
			Email    string `json:"email"`
			Password string `json:"password"`
		}
		err := server.DecodeStrict(body, &in)
		if err != nil {
			switch code := sessiond.ErrorCode(err); code {
			case sessionhttp.CodeMalformedJSON, sessiond.CodeInvalidInput:
			default:
				t.Fatalf("error code %q for %q", code, body)
			}
			return
		}
		if !utf8.Valid(body) || !json.Valid(body) {
			t.Fatalf("accepted %q", body)
		}
	})
}
