package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
)

// The session response is on the path of every GET, so it is written by hand
// into a pooled buffer: encoding/json's reflection and its re-validation of
// the data field cost more than the rest of the request. TestEncode_MatchesEncodingJSON
// holds it equal to what encoding/json produces from sessionResponse.

// Shared values of constant headers save an allocation per response.
// net/http never modifies them, and an Add elsewhere appends to a copy (the
// slices are full).
var (
	headerJSON    = []string{"application/json"}
	headerNoSniff = []string{"nosniff"}
	headerNoStore = []string{"no-store"}
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (s *server) writeSession(w http.ResponseWriter, sess *sessiond.Session, u *sessiond.User) {
	bp := bufPool.Get().(*[]byte)
	b := appendSession((*bp)[:0], s.sessionBody(sess, u))
	b = append(b, '\n')
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["X-Content-Type-Options"] = headerNoSniff
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	*bp = b
	bufPool.Put(bp)
}

func appendSession(b []byte, r sessionResponse) []byte {
	b = append(b, `{"authenticated":`...)
	b = strconv.AppendBool(b, r.Authenticated)
	b = append(b, `,"user":{"id":`...)
	b = appendString(b, r.User.ID)
	b = append(b, `,"email":`...)
	b = appendString(b, r.User.Email)
	b = append(b, `,"tenant_id":`...)
	b = appendString(b, r.User.TenantID)
	b = append(b, `,"needs_onboarding":`...)
	b = strconv.AppendBool(b, r.User.NeedsOnboarding)
	b = append(b, `,"onboarding_step":`...)
	b = appendString(b, r.User.OnboardingStep)
	b = append(b, `,"attributes":`...)
	b = appendObject(b, r.User.Attributes)
	se := r.Session
	b = append(b, `},"session":{"id":`...)
	b = appendString(b, se.ID)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, se.CreatedAt)
	b = append(b, `,"last_activity":`...)
	b = appendTime(b, se.LastActivity)
	b = append(b, `,"expires_at":`...)
	b = appendTime(b, se.ExpiresAt)
	b = append(b, `,"idle_expires_at":`...)
	b = appendTime(b, se.IdleExpiresAt)
	b = append(b, `,"authenticated_at":`...)
	b = appendTime(b, se.AuthenticatedAt)
	b = append(b, `,"ip_address":`...)
	b = appendString(b, se.IPAddress)
	b = append(b, `,"user_agent":`...)
	b = appendString(b, se.UserAgent)
	b = append(b, `,"device":`...)
	b = appendString(b, se.Device)
	b = append(b, `,"flags":[`...)
	for i, f := range se.Flags {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f)
	}
	b = append(b, `]},"data":`...)
	b = appendObject(b, r.Data)
	b = append(b, `,"data_version":`...)
	b = strconv.AppendInt(b, r.DataVersion, 10)
	return append(b, '}')
}

// appendObject writes a stored JSON object as it is, or {} when it is not
// valid JSON.
func appendObject(b []byte, raw json.RawMessage) []byte {
	if string(raw) == "{}" || json.Valid(raw) {
		return append(b, raw...)
	}
	return append(b, `{}`...)
}

// appendTime writes t as encoding/json does (RFC 3339 with nanoseconds,
// trailing zeros dropped). Times in UTC, as the stores return them, are
// written digit by digit: time.Time.AppendFormat's general path cost more
// than the rest of the answer. Any other offset or a year out of 0-9999
// takes AppendFormat.
func appendTime(b []byte, t time.Time) []byte {
	if _, off := t.Zone(); off != 0 {
		return appendTimeFormat(b, t)
	}
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return appendTimeFormat(b, t)
	}
	hour, minute, sec := t.Clock()
	b = append(b, '"')
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-')
	b = append2(b, int(month), '-')
	b = append2(b, day, 'T')
	b = append2(b, hour, ':')
	b = append2(b, minute, ':')
	b = append(b, byte('0'+sec/10), byte('0'+sec%10))
	if ns := t.Nanosecond(); ns != 0 {
		var frac [9]byte
		for i := 8; i >= 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 9
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, '.')
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z', '"')
}

// append2 writes v (0-99) as two digits, then sep.
func append2(b []byte, v int, sep byte) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10), sep)
}

func appendTimeFormat(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// plainASCII marks the ASCII bytes a JSON string holds as they are: not a
// control character, quote, backslash, <, > or &.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString writes s as a JSON string with encoding/json's escaping:
// quotes, backslashes, control characters, <, >, &, U+2028 and U+2029 are
// escaped and invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plainASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
