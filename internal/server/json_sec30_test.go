package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/sessionhttp"
)

// nested returns `{"a":` n times, the value, then n closing braces.
func nested(n int, value string) string {
	return strings.Repeat(`{"a":`, n) + value + strings.Repeat("}", n)
}

// allocated returns the bytes the process allocated while f ran, the least
// of three runs: the work f caused, without what a stray background
// goroutine happened to allocate at the same time.
func allocated(f func()) uint64 {
	least := ^uint64(0)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// A 60 KB PATCH nested 9,990 deep (under encoding/json's own limit of
// 10,000, so it reached the merge) cost 7.8 s of CPU: the merge decoded
// every level again, about 300 MB of scanning and copying. Now the depth is
// refused before any of that: the work is counted as the bytes the whole
// request allocates (no timing), which must stay within a few times the
// body's size.
func TestPatch_DeeplyNestedBodyIsRefusedBeforeTheMerge_SEC30(t *testing.T) {
	s := start(t, options{})
	token := s.login(t)
	if r := s.call(t, "PATCH", sessionPath, `{"data":{"keep":1}}`, token); r.status != http.StatusOK {
		t.Fatalf("a plain PATCH: %d %s", r.status, r.body)
	}
	body := `{"data":` + nested(9990, "1") + `}`
	if len(body) < 59_000 || len(body) > 61_000 {
		t.Fatalf("the body is %d bytes, want about 60 KB", len(body))
	}
	var r response
	work := allocated(func() { r = s.call(t, "PATCH", sessionPath, body, token) })
	t.Logf("the %d-byte PATCH allocated %d bytes", len(body), work)
	if r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_input" ||
		!strings.Contains(r.body, fmt.Sprintf("nested deeper than %d levels", sessiond.MaxJSONDepth)) {
		t.Fatalf("PATCH of a %d-byte body nested 9,991 deep: %d %s, want 400 invalid_input naming the depth", len(body), r.status, r.body)
	}
	if work > 4<<20 {
		t.Fatalf("the refused %d-byte PATCH allocated %d bytes (want under 4 MiB): work grows faster than the body", len(body), work)
	}

	// The limit itself: a body 32 deep is merged, 33 deep is refused.
	if r := s.call(t, "PATCH", sessionPath, `{"data":{"deep":`+nested(sessiond.MaxJSONDepth-2, "1")+`}}`, token); r.status != http.StatusOK {
		t.Fatalf("PATCH %d deep: %d %s", sessiond.MaxJSONDepth, r.status, r.body)
	}
	if r := s.call(t, "PATCH", sessionPath, `{"data":{"deep":`+nested(sessiond.MaxJSONDepth-1, "1")+`}}`, token); r.status != http.StatusBadRequest {
		t.Fatalf("PATCH %d deep: %d %s, want 400", sessiond.MaxJSONDepth+1, r.status, r.body)
	}
	// Arrays count as objects do.
	if r := s.call(t, "PATCH", sessionPath, `{"data":{"a":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}}`, token); r.status != http.StatusBadRequest {
		t.Fatalf("PATCH with arrays 42 deep: %d %s, want 400", r.status, r.body)
	}
	// Over the body limit, nested or not: 413 before any parsing.
	if r := s.call(t, "PATCH", sessionPath, `{"data":`+nested(14000, "1")+`}`, token); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("PATCH of %d bytes: %d %s, want 413", 8+14000*6+2, r.status, r.body)
	}
	// Refused patches changed nothing.
	if r := s.get(t, token); r.status != 200 || len(r.json(t)["data"].(map[string]any)) != 2 || r.json(t)["data"].(map[string]any)["keep"] != 1.0 {
		t.Fatalf("the session after the refused patches: %d %s", r.status, r.body)
	}
}

// Parser differentials (SEC-30): a WAF or a logging proxy that reads the
// first of two equal keys, or takes "Password" for another field, must not
// see a different request from sessiond. Every body decoder refuses
// duplicate keys at any depth and keys that differ from a field only in
// case, naming the key.
func TestBodies_DuplicateAndCaseVariantKeysAreRefused_SEC30(t *testing.T) {
	s := start(t, options{admin: adminToken})
	token := s.login(t)
	for _, c := range []struct {
		name, method, path, body, key string
		admin                         bool
	}{
		{"login with the password twice", "POST", sessionPath, `{"email":"` + userEmail + `","password":"wrong","password":"` + userPassword + `"}`, `duplicate key \"password\"`, false},
		{"login with an escaped copy of a key", "POST", sessionPath, `{"email":"` + userEmail + `","password":"wrong","\u0070assword":"` + userPassword + `"}`, `duplicate key \"password\"`, false},
		{"login with Email", "POST", sessionPath, `{"Email":"` + userEmail + `","password":"` + userPassword + `"}`, `unknown field \"Email\"`, false},
		{"login with PASSWORD", "POST", sessionPath, `{"email":"` + userEmail + `","PASSWORD":"` + userPassword + `"}`, `unknown field \"PASSWORD\"`, false},
		{"login with the Kelvin sign", "POST", sessionPath, `{"email":"` + userEmail + `","password":"` + userPassword + `","\u212aey":1}`, `unknown field`, false},
		{"login with email and EMAIL", "POST", sessionPath, `{"email":"` + userEmail + `","EMAIL":"mallory@example.com","password":"` + userPassword + `"}`, `differ only in case`, false},
		{"patch with data twice", "PATCH", sessionPath, `{"data":{"a":1},"data":{"b":1}}`, `duplicate key \"data\"`, false},
		{"patch with Data", "PATCH", sessionPath, `{"Data":{"a":1}}`, `unknown field \"Data\"`, false},
		{"patch with a duplicate inside data", "PATCH", sessionPath, `{"data":{"plan":"free","plan":"pro"}}`, `duplicate key \"plan\"`, false},
		{"patch with a duplicate deep inside data", "PATCH", sessionPath, `{"data":{"a":{"b":[{"c":1,"c":2}]}}}`, `duplicate key \"c\"`, false},
		{"patch with case variants inside data", "PATCH", sessionPath, `{"data":{"role":"user","Role":"admin"}}`, `differ only in case`, false},
		{"admin create with user_id twice", "POST", "/admin/v1/sessions", `{"user_id":"u1","user_id":"u2"}`, `duplicate key \"user_id\"`, true},
		{"admin create with User_Id", "POST", "/admin/v1/sessions", `{"User_Id":"u1"}`, `unknown field \"User_Id\"`, true},
		{"admin create with a duplicate inside data", "POST", "/admin/v1/sessions", `{"user_id":"u1","data":{"x":{"y":1,"y":2}}}`, `duplicate key \"y\"`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r response
			switch {
			case c.admin:
				r = s.admin(t, c.method, c.path, c.body)
			case c.method == "POST":
				r = s.call(t, c.method, c.path, c.body, "") // a login would end the session
			default:
				r = s.call(t, c.method, c.path, c.body, token)
			}
			if code := r.json(t)["error"]; r.status != http.StatusBadRequest || (code != "invalid_input" && code != "malformed_json") ||
				!strings.Contains(r.body, c.key) {
				t.Fatalf("%s %s %s: %d %s, want 400 naming %s", c.method, c.path, c.body, r.status, r.body, c.key)
			}
			if r.header.Get("Set-Cookie") != "" {
				t.Fatalf("%s %s: a refused body set a cookie: %q", c.method, c.path, r.header.Get("Set-Cookie"))
			}
		})
	}
	// Nothing was changed or created on the way.
	if r := s.get(t, token); r.status != 200 || len(r.json(t)["data"].(map[string]any)) != 0 {
		t.Fatalf("the session after the refused patches: %d %s", r.status, r.body)
	}
	if r := s.admin(t, "GET", "/admin/v1/users/u1/sessions", ""); r.status != 200 || strings.Contains(r.body, `"id"`) {
		t.Fatalf("sessions of u1 after the refused creates: %d %s", r.status, r.body)
	}
}

// A password is verified exactly as received (SEC-30, SEC-17): no Unicode
// normalisation, no trimming, and an escape that a decoder would replace
// (an unpaired surrogate becomes U+FFFD, so "\ud800" and "\udbff" would be
// one password) is refused instead. JSON escapes themselves are the same
// string ("\u00e4" is "ä").
func TestLogin_PasswordIsVerifiedExactlyAsReceived_SEC30(t *testing.T) {
	s := start(t, options{})
	const email, pw = "zoe@example.com", "Gr\u00fc\u00dfe aus K\u00f6ln \ufb01"
	if _, err := s.accounts.AddUser(context.Background(), accounts.UserParams{Email: email, Password: pw, TenantID: "acme"}); err != nil {
		t.Fatal(err)
	}
	nfd := "Gru\u0308\u00dfe aus Ko\u0308ln \ufb01"
	for _, c := range []struct {
		name, body string
		status     int
	}{
		{"as stored", loginBody(email, pw), 200},
		{"with JSON escapes", `{"email":"` + email + `","password":"Gr\u00fc\u00dfe aus K\u00f6ln \ufb01"}`, 200},
		{"decomposed (NFD)", loginBody(email, nfd), 401},
		{"compatibility-folded (fi for the ligature)", loginBody(email, "Gr\u00fc\u00dfe aus K\u00f6ln fi"), 401},
		{"with a trailing space", loginBody(email, pw+" "), 401},
		{"with a leading space", loginBody(email, " "+pw), 401},
		{"upper-cased", loginBody(email, strings.ToUpper(pw)), 401},
		{"with a NUL appended", loginBody(email, pw+"\x00"), 401},
		{"with an unpaired surrogate escape", `{"email":"` + email + `","password":"` + pw + `\ud800"}`, 400},
		{"with a reversed surrogate pair", `{"email":"` + email + `","password":"\udc00\ud800` + pw + `"}`, 400},
	} {
		r := s.call(t, "POST", sessionPath, c.body, "")
		if r.status != c.status {
			t.Errorf("login %s: %d %s, want %d", c.name, r.status, r.body, c.status)
		}
		// The right password still works, and clears the failures so
		// that the throttle does not answer the next case.
		if r := s.call(t, "POST", sessionPath, loginBody(email, pw), ""); r.status != 200 {
			t.Fatalf("login as stored after the case %s: %d %s", c.name, r.status, r.body)
		}
	}
	// A real surrogate pair (an emoji, escaped) is fine.
	const emojiPW = "pass\U0001F511word"
	if _, err := s.accounts.AddUser(context.Background(), accounts.UserParams{Email: "yan@example.com", Password: emojiPW, TenantID: "acme"}); err != nil {
		t.Fatal(err)
	}
	if r := s.call(t, "POST", sessionPath, `{"email":"yan@example.com","password":"pass\ud83d\udd11word"}`, ""); r.status != 200 {
		t.Fatalf("login with an escaped surrogate pair: %d %s", r.status, r.body)
	}
}

// FuzzDecodeStrict_SEC30 feeds the strict decoder nested, duplicated and
// case-varied bodies: it never panics, every refusal is malformed_json or
// invalid_input, and what it accepts is valid UTF-8 JSON no deeper than
// MaxJSONDepth, decoded only into the struct's own field names.
func FuzzDecodeStrict_SEC30(f *testing.F) {
	for _, seed := range []string{
		`{"data":{"a":1},"version":2}`,
		`{"data":` + nested(40, "1") + `}`,
		`{"data":` + nested(31, "{}") + `}`,
		`{"data":{"a":1,"a":2}}`,
		`{"data":{"a":1,"A":2}}`,
		`{"Data":{}}`,
		`{"data":{"a":[[[[[[{"b":null}]]]]]]}}`,
		`{"data":{"\u0061":1,"a":2}}`,
		`{"data":{"s":"\ud800"}}`,
		`{"data":{}} {}`,
		`{"version":1e999}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in struct {
			Data    map[string]any `json:"data"`
			Version *int64         `json:"version"`
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
		if !utf8.Valid(body) {
			t.Fatalf("accepted invalid UTF-8 %q", body)
		}
		if d := depth(body); d > sessiond.MaxJSONDepth {
			t.Fatalf("accepted %q, %d deep", body, d)
		}
		keys := topKeys(t, body)
		for _, k := range keys {
			if k != "data" && k != "version" {
				t.Fatalf("accepted key %q in %q", k, body)
			}
		}
	})
}

// depth counts how deeply the brackets of JSON text b nest, outside
// strings: an oracle independent of the decoder under test.
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

// topKeys returns the keys of the JSON object b as written, in order,
// duplicates included.
func topKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	var keys []string
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}
