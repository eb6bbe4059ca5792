package redisstore

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// Session records come in two formats.
//
// Format 2, written since sessiond 0.x: the key {p}:s:<id> is a string, a
// MessagePack array that the scripts read and rewrite with Redis's
// cmsgpack library:
//
//	[2, token hash (32 bytes), user, tenant, address, user agent,
//	 created, last activity, expires, authenticated (µs since 1970),
//	 data (a string, or false for none), version, flags (comma-joined)]
//
// The id is the key's. A user's sessions are the sorted set {p}:us:<user>
// (score 0; a small one stays in Redis's compact encoding, where a set of
// ids does not before Redis 7.2), and the member of the deadline index
// {p}:exp is the MessagePack array [id, user, tenant], so that the purge
// can clear the index entries of a session whose key Redis already
// expired without a record of its own.
//
// Format 1, written before: a hash of fields (see parseSession), the set
// {p}:u:<user>, a bare id in {p}:exp and the user and tenant in the hash
// {p}:owner. The store reads, updates and deletes both; a format-1 session
// stays in format 1 (touches, data and flag updates rewrite it in place)
// until it ends, or is rotated: the rotated session is written in format 2.
// Every session written by this version is format 2.
//
// Both formats share the token key {p}:h:<hex token hash> (the session's
// id), the tenant set {p}:t:<tenant> and the activity index {p}:idle.
const (
	format2    = 2
	format2Len = 13 // elements of a format-2 record
)

// recordWriter writes new and rotated sessions: createScript and
// rotateScript with format2Args. (The tests also write format 1, as
// earlier versions did.)
type recordWriter struct {
	create, rotate *rueidis.Lua
	args           func(*sessiond.Session) ([]string, error)
}

var format2Writer = recordWriter{create: createScript, rotate: rotateScript, args: format2Args}

// format2Args are the arguments by which createScript and rotateScript take
// a session: id, token hash (hex), user, tenant, expires and last activity
// (µs) for the keys and indexes, and its record.
func format2Args(sess *sessiond.Session) ([]string, error) {
	rec, err := encodeSession(sess)
	if err != nil {
		return nil, err
	}
	return []string{sess.ID, hex.EncodeToString(sess.TokenHash[:]), sess.UserID, sess.TenantID,
		micros(sess.ExpiresAt), micros(sess.LastActivity), string(rec)}, nil
}

// encodeSession returns sess as a format-2 record.
func encodeSession(sess *sessiond.Session) ([]byte, error) {
	times := []time.Time{sess.CreatedAt, sess.LastActivity, sess.ExpiresAt, sess.AuthenticatedAt}
	ints := make([]int64, 0, 5)
	for _, t := range times {
		ints = append(ints, t.UnixMicro())
	}
	ints = append(ints, sess.Version)
	for _, n := range ints {
		// The scripts hold numbers as Lua doubles: a value a double does
		// not represent exactly would change when a script rewrites the
		// record. Microseconds within ±285 years of 1970 are exact, and so
		// is the zero time.
		if f := float64(n); f < -9e18 || f > 9e18 || int64(f) != n {
			return nil, fmt.Errorf("redisstore: session %s: %d is out of the range a record keeps exactly", sess.ID, n)
		}
	}
	b := make([]byte, 0, 96+len(sess.UserID)+len(sess.TenantID)+len(sess.IPAddress)+len(sess.UserAgent)+len(sess.Data))
	b = append(b, 0x90|format2Len)
	b = mpInt(b, format2)
	b = mpStr(b, string(sess.TokenHash[:]))
	b = mpStr(b, sess.UserID)
	b = mpStr(b, sess.TenantID)
	b = mpStr(b, sess.IPAddress)
	b = mpStr(b, sess.UserAgent)
	for _, n := range ints[:4] {
		b = mpInt(b, n)
	}
	if sess.Data != nil {
		b = mpStr(b, string(sess.Data))
	} else {
		b = append(b, 0xc2) // false
	}
	b = mpInt(b, sess.Version)
	b = mpStr(b, strings.Join(sess.Flags, ","))
	return b, nil
}

// decodeSession reads the format-2 record of session id.
func decodeSession(id string, rec []byte) (*sessiond.Session, error) {
	bad := func(what string) (*sessiond.Session, error) {
		return nil, fmt.Errorf("redisstore: session %s: a bad record (%s)", id, what)
	}
	d := mpDecoder{b: rec}
	n, ok := d.arrayLen()
	if !ok || n < format2Len {
		return bad("not an array of 13")
	}
	if v, ok := d.value().(int64); !ok || v != format2 {
		return bad("format")
	}
	var str [5]string
	for i := range str {
		s, ok := d.value().(string)
		if !ok {
			return bad("a string field")
		}
		str[i] = s
	}
	var ints [4]int64
	for i := range ints {
		v, ok := d.value().(int64)
		if !ok {
			return bad("a time")
		}
		ints[i] = v
	}
	s := &sessiond.Session{ID: id, UserID: str[1], TenantID: str[2], IPAddress: str[3], UserAgent: str[4],
		CreatedAt: time.UnixMicro(ints[0]).UTC(), LastActivity: time.UnixMicro(ints[1]).UTC(),
		ExpiresAt: time.UnixMicro(ints[2]).UTC(), AuthenticatedAt: time.UnixMicro(ints[3]).UTC()}
	if len(str[0]) != len(s.TokenHash) {
		return bad("token hash")
	}
	copy(s.TokenHash[:], str[0])
	switch v := d.value().(type) {
	case string:
		s.Data = json.RawMessage(v)
	case bool:
	default:
		return bad("data")
	}
	v, ok := d.value().(int64)
	if !ok {
		return bad("version")
	}
	s.Version = v
	f, ok := d.value().(string)
	if !ok || d.err != nil {
		return bad("flags")
	}
	if f != "" {
		s.Flags = strings.Split(f, ",")
	}
	return s, nil
}

// readRecord reads a session record as a script returns it: a string
// (format 2), the list HGETALL gives (format 1), or nil for none.
func readRecord(id string, m rueidis.RedisMessage) (*sessiond.Session, error) {
	if m.IsNil() {
		return nil, sessiond.ErrNotFound
	}
	if m.IsArray() {
		f, err := m.AsStrMap()
		if err != nil {
			return nil, translate(err)
		}
		return parseSession(f)
	}
	rec, err := m.ToString()
	if err != nil {
		return nil, translate(err)
	}
	return decodeSession(id, []byte(rec))
}

// expID returns the session id of a member of the deadline index: the
// first element of format 2's [id, user, tenant], or a bare id (format 1).
func expID(member string) string {
	if len(member) == 0 || member[0] != 0x93 {
		return member
	}
	d := mpDecoder{b: []byte(member)}
	d.arrayLen()
	if id, ok := d.value().(string); ok && d.err == nil {
		return id
	}
	return member
}

// parseSession reads a format-1 record (a hash).
func parseSession(m map[string]string) (*sessiond.Session, error) {
	if len(m) == 0 {
		return nil, sessiond.ErrNotFound
	}
	s := &sessiond.Session{ID: m["id"], UserID: m["u"], TenantID: m["t"], IPAddress: m["ip"], UserAgent: m["ua"],
		CreatedAt: fromMicros(m["c"]), LastActivity: fromMicros(m["la"]), ExpiresAt: fromMicros(m["e"]), AuthenticatedAt: fromMicros(m["a"])}
	h, err := hex.DecodeString(m["th"])
	if err != nil || len(h) != len(s.TokenHash) {
		return nil, fmt.Errorf("redisstore: session %s has a bad token hash", s.ID)
	}
	copy(s.TokenHash[:], h)
	if m["hd"] == "1" {
		s.Data = json.RawMessage(m["d"])
	}
	s.Version, _ = strconv.ParseInt(m["v"], 10, 64)
	if m["f"] != "" {
		s.Flags = strings.Split(m["f"], ",")
	}
	return s, nil
}

// The MessagePack subset of the records: arrays, strings, integers,
// booleans, nil, and the floats cmsgpack writes for a number it cannot
// write as an integer.

func mpStr(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 1<<8:
		b = append(b, 0xd9, byte(n))
	case n < 1<<16:
		b = append(b, 0xda)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0xdb)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	return append(b, s...)
}

func mpInt(b []byte, n int64) []byte {
	switch {
	case n >= 0 && n < 128:
		return append(b, byte(n))
	case n >= -32 && n < 0:
		return append(b, byte(n))
	case n >= 0 && n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n))
	case n >= math.MinInt32 && n < 0:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}

type mpDecoder struct {
	b   []byte
	err error
}

var errShort = errors.New("short MessagePack")

func (d *mpDecoder) take(n int) []byte {
	if d.err != nil || n < 0 || len(d.b) < n {
		d.err = errShort
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *mpDecoder) uint(n int) uint64 {
	v := d.take(n)
	if v == nil {
		return 0
	}
	var u uint64
	for _, c := range v {
		u = u<<8 | uint64(c)
	}
	return u
}

// arrayLen reads an array header.
func (d *mpDecoder) arrayLen() (int, bool) {
	t := d.take(1)
	switch {
	case t == nil:
		return 0, false
	case t[0]&0xf0 == 0x90:
		return int(t[0] & 0x0f), true
	case t[0] == 0xdc:
		return int(d.uint(2)), d.err == nil
	case t[0] == 0xdd:
		return int(d.uint(4)), d.err == nil
	}
	return 0, false
}

// value reads a string (str or bin), an integer (int64; a float that holds
// a whole number counts as one), a bool or nil; anything else is an error.
func (d *mpDecoder) value() any {
	t := d.take(1)
	if t == nil {
		return nil
	}
	c := t[0]
	switch {
	case c < 0x80:
		return int64(c)
	case c >= 0xe0:
		return int64(int8(c))
	case c&0xe0 == 0xa0:
		return string(d.take(int(c & 0x1f)))
	}
	switch c {
	case 0xc0:
		return nil
	case 0xc2:
		return false
	case 0xc3:
		return true
	case 0xd9, 0xc4:
		return string(d.take(int(d.uint(1))))
	case 0xda, 0xc5:
		return string(d.take(int(d.uint(2))))
	case 0xdb, 0xc6:
		return string(d.take(int(d.uint(4))))
	case 0xcc:
		return int64(d.uint(1))
	case 0xcd:
		return int64(d.uint(2))
	case 0xce:
		return int64(d.uint(4))
	case 0xcf:
		u := d.uint(8)
		if u > math.MaxInt64 {
			d.err = errors.New("MessagePack integer out of range")
		}
		return int64(u)
	case 0xd0:
		return int64(int8(d.uint(1)))
	case 0xd1:
		return int64(int16(d.uint(2)))
	case 0xd2:
		return int64(int32(d.uint(4)))
	case 0xd3:
		return int64(d.uint(8))
	case 0xca:
		return wholeFloat(float64(math.Float32frombits(uint32(d.uint(4)))), d)
	case 0xcb:
		return wholeFloat(math.Float64frombits(d.uint(8)), d)
	}
	d.err = fmt.Errorf("MessagePack type %#x", c)
	return nil
}

func wholeFloat(f float64, d *mpDecoder) any {
	if f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
		d.err = errors.New("MessagePack float is not a whole number")
		return nil
	}
	return int64(f)
}
