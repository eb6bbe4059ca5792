// Package redisstore is sessiond's Redis store (rueidis). Multi-key updates
// are Lua scripts, so each one is atomic, and every script touches keys of
// one hash tag only, so that it is legal on Redis Cluster. Session keys
// expire at the session's absolute deadline; counters and migration records
// have TTLs too. Every change is PUBLISHed for the other nodes' caches.
//
// Key layout. By default every key carries one hash tag, {prefix}: on a
// Cluster, one deployment lives on one shard. With Shards > 1, sessions are
// spread over that many hash tags, {prefix/0} to {prefix/N-1}, chosen by
// user: a user's sessions, the user's and tenant's session sets and the
// deadline indexes of that part live under one tag, so the per-user cap
// and every per-user change stay one atomic script. A session is also
// found by its id and by its token hash, neither of which names the user:
// two small pointer keys, under the tags that the id and the hash choose,
// lead to the user's part. They are claimed with SET NX before the session
// is written (a duplicate id or token is a conflict, as everywhere) and
// expire with it; a pointer whose session is gone leads nowhere, since the
// session record is always checked. Users, events, devices, counters and
// migration records stay under {prefix}.
//
// Sessions need durability from Redis: run it with appendonly yes and
// maxmemory-policy noeviction (Check reports both).
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	neturl "net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// Options configure a Store.
type Options struct {
	// Prefix namespaces every key; default: the URL's "prefix" query
	// parameter, or "sessiond". The keys are "{Prefix}:…".
	Prefix string
	// Shards is how many hash tags the sessions are spread over (see the
	// package documentation); default: the URL's "shards" query parameter,
	// or 1. It is fixed when the store is first used: Open refuses another
	// value, which would lose every session.
	Shards int
}

// maxShards bounds Options.Shards: the Cluster has 16384 slots.
const maxShards = 16384

// Store is a sessiond.Store on Redis.
type Store struct {
	c        rueidis.Client
	p        string // "{prefix}:"
	prefix   string
	shards   uint32
	purgeAt  atomic.Uint32 // the part where the next purge starts
	events   string        // channel of changes
	sentinel bool          // the master is found through Sentinel and can change
}

// Open connects to the Redis at url (redis://, rediss://; Sentinel and
// Cluster addresses as rueidis.ParseURL accepts them).
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	u, err := neturl.Parse(url)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	q := u.Query()
	if opts.Prefix == "" {
		opts.Prefix = q.Get("prefix")
	}
	if opts.Prefix == "" {
		opts.Prefix = "sessiond"
	}
	if !validPrefix(opts.Prefix) {
		// A "/" would let prefix "px" with shards and prefix "px/0" share
		// keys; a brace would break the hash tags that keep a shard on
		// one Cluster slot (#16.6).
		return nil, fmt.Errorf("redisstore: prefix %q: want 1 to 64 letters, digits, '_', '-' or '.'", opts.Prefix)
	}
	if opts.Shards == 0 && q.Get("shards") != "" {
		n, err := strconv.Atoi(q.Get("shards"))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("redisstore: shards=%q: want a whole number from 1 to %d", q.Get("shards"), maxShards)
		}
		opts.Shards = n
	}
	if opts.Shards == 0 {
		opts.Shards = 1
	}
	if opts.Shards < 1 || opts.Shards > maxShards {
		return nil, fmt.Errorf("redisstore: %d shards: want 1 to %d", opts.Shards, maxShards)
	}
	q.Del("prefix")
	q.Del("shards")
	u.RawQuery = q.Encode()
	o, err := rueidis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	o.DisableCache = true
	// With the server unreachable, rueidis would retry until the request's
	// deadline; sessiond answers 503 at once instead, and the client
	// retries.
	o.DisableRetry = true
	c, err := rueidis.NewClient(o)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	s := &Store{c: c, p: "{" + opts.Prefix + "}:", prefix: opts.Prefix, shards: uint32(opts.Shards), sentinel: o.Sentinel.MasterSet != ""}
	s.events = s.p + "changes"
	if err := s.Ping(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := s.checkShards(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := s.checkEviction(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// validPrefix reports whether p may name a deployment's keys.
func validPrefix(p string) bool {
	if p == "" || len(p) > 64 {
		return false
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// checkEviction refuses a Redis that may evict keys (#16.4). Only
// noeviction is safe: the allkeys-* policies evict the user and tenant
// index sets (a revocation then answers {"revoked":0} and leaves sessions
// valid), the per-user cap's sets and the shard count; the volatile-*
// policies evict keys with a deadline, which are the throttle counters
// and the migration replay guard, so that throttling and the guard
// silently forget. A Redis whose settings cannot be read (CONFIG disabled,
// as some managed services do) is let through: Check warns about it.
func (s *Store) checkEviction(ctx context.Context) error {
	for addr, node := range s.c.Nodes() {
		cfg, err := node.Do(ctx, node.B().ConfigGet().Parameter("maxmemory-policy").Build()).AsStrMap()
		if err != nil {
			continue
		}
		if v, ok := cfg["maxmemory-policy"]; ok && v != "noeviction" {
			return fmt.Errorf("redisstore: Redis %s has maxmemory-policy %s, which can evict the keys that revocation, the session cap, throttling and the replay guard depend on (a revocation could silently do nothing); set maxmemory-policy noeviction", addr, v)
		}
	}
	return nil
}

// checkShards records the shard count on first use and refuses another
// one later: the sessions of a user would be looked for in the wrong part.
func (s *Store) checkShards(ctx context.Context) error {
	key, want := s.k("shards"), strconv.Itoa(int(s.shards))
	if err := s.c.Do(ctx, s.c.B().Set().Key(key).Value(want).Nx().Build()).Error(); err != nil && !rueidis.IsRedisNil(err) {
		return translate(err)
	}
	got, err := s.c.Do(ctx, s.c.B().Get().Key(key).Build()).ToString()
	if err != nil {
		return translate(err)
	}
	if got != want {
		return fmt.Errorf("redisstore: the keys under prefix %q were written with shards=%s, not %s: changing it would lose every session", s.prefix, got, want)
	}
	return nil
}

// part is the key prefix of the part that a user id (or, for the
// pointers, a session id or token hash) maps to: "{p}:" with one shard,
// else "{p/N}:".
func (s *Store) part(v string) string {
	if s.shards == 1 {
		return s.p
	}
	return s.partPrefix(crc32.ChecksumIEEE([]byte(v)) % s.shards)
}

func (s *Store) partPrefix(i uint32) string {
	return "{" + s.prefix + "/" + strconv.FormatUint(uint64(i), 10) + "}:"
}

// idPointer and hashPointer are the keys that lead from a session id and
// from a token hash to the user (with Shards > 1 only).
func (s *Store) idPointer(id string) string { return s.part(id) + "pi:" + id }

func (s *Store) hashPointer(h string) string { return s.part(h) + "ph:" + h }

// claimPointers writes a new session's pointers, each only if absent: an
// id or token hash in use is ErrConflict. With keepID (a rotation that
// keeps the public id) the id pointer is the old session's and stays as it
// is. On any failure, what this call wrote is deleted again.
func (s *Store) claimPointers(ctx context.Context, sess *sessiond.Session, keepID bool) error {
	if s.shards == 1 {
		return nil
	}
	th := hex.EncodeToString(sess.TokenHash[:])
	at := sess.ExpiresAt.UnixMilli() + 1
	keys := []string{s.hashPointer(th)}
	cmds := rueidis.Commands{s.c.B().Set().Key(keys[0]).Value(sess.UserID + "\n" + sess.ID).Nx().PxatMillisecondsTimestamp(at).Build()}
	if !keepID {
		keys = append(keys, s.idPointer(sess.ID))
		cmds = append(cmds, s.c.B().Set().Key(keys[1]).Value(sess.UserID).Nx().PxatMillisecondsTimestamp(at).Build())
	}
	var firstErr error
	var wrote []string
	for i, r := range s.c.DoMulti(ctx, cmds...) {
		err := r.Error()
		switch {
		case err == nil:
			wrote = append(wrote, keys[i])
		case rueidis.IsRedisNil(err):
			if firstErr == nil {
				firstErr = sessiond.ErrConflict
			}
		default:
			firstErr = translate(err)
		}
	}
	if firstErr != nil {
		s.dropKeys(ctx, wrote...)
	}
	return firstErr
}

// dropPointers deletes the pointers that claimPointers wrote for a
// session whose script then definitely refused it.
func (s *Store) dropPointers(ctx context.Context, sess *sessiond.Session, keepID bool) {
	if s.shards == 1 {
		return
	}
	keys := []string{s.hashPointer(hex.EncodeToString(sess.TokenHash[:]))}
	if !keepID {
		keys = append(keys, s.idPointer(sess.ID))
	}
	s.dropKeys(ctx, keys...)
}

// dropKeys deletes keys one by one (they may live in different slots). A
// failure leaves a pointer that expires with its session and leads nowhere.
func (s *Store) dropKeys(ctx context.Context, keys ...string) {
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = s.c.B().Del().Key(k).Build()
	}
	s.c.DoMulti(ctx, cmds...)
}

// locate returns the part that holds session id: with Shards > 1, through
// its id pointer; a missing pointer is ErrNotFound.
func (s *Store) locate(ctx context.Context, id string) (string, error) {
	if s.shards == 1 {
		return s.p, nil
	}
	user, err := s.c.Do(ctx, s.c.B().Get().Key(s.idPointer(id)).Build()).ToString()
	if err != nil {
		return "", translate(err)
	}
	return s.part(user), nil
}

// parts lists every part's key prefix.
func (s *Store) parts() []string {
	if s.shards == 1 {
		return []string{s.p}
	}
	out := make([]string, s.shards)
	for i := range out {
		out[i] = s.partPrefix(uint32(i))
	}
	return out
}

// Close closes the client.
func (s *Store) Close() error {
	if s.c != nil {
		s.c.Close()
	}
	return nil
}

// Check returns warnings about server settings that can lose sessions or
// revocations: no append-only file, an fsync policy that can drop the last
// second of writes in a crash, or an eviction policy other than noeviction.
// On a Cluster every master is asked.
func (s *Store) Check(ctx context.Context) []string {
	var warn []string
	for addr, node := range s.c.Nodes() {
		cfg, err := node.Do(ctx, node.B().ConfigGet().Parameter("appendonly").Parameter("appendfsync").Parameter("maxmemory-policy").Build()).AsStrMap()
		if err != nil {
			warn = append(warn, fmt.Sprintf("Redis %s: cannot read its settings (CONFIG GET: %v); check appendonly yes and maxmemory-policy noeviction by hand", addr, err))
			continue
		}
		if v := cfg["appendonly"]; v != "yes" {
			warn = append(warn, fmt.Sprintf("Redis %s: appendonly is %s: a restart loses every session and revocation since the last snapshot; set appendonly yes", addr, v))
		} else if v := cfg["appendfsync"]; v != "always" {
			warn = append(warn, fmt.Sprintf("Redis %s: appendfsync is %s: a crash of the server can lose the last second of logins and logouts (a logout lost is a session back); appendfsync always loses none", addr, v))
		}
	}
	slices.Sort(warn)
	return warn
}

func (s *Store) k(parts ...string) string { return s.p + strings.Join(parts, ":") }

func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

func fromMicros(v string) time.Time {
	n, _ := strconv.ParseInt(v, 10, 64)
	return time.UnixMicro(n).UTC()
}

// sessionFields are the hash fields of a session, in the order the scripts
// receive them.
func sessionFields(sess *sessiond.Session) []string {
	data := ""
	hasData := "0"
	if sess.Data != nil {
		data, hasData = string(sess.Data), "1"
	}
	return []string{
		"id", sess.ID, "th", hex.EncodeToString(sess.TokenHash[:]), "u", sess.UserID, "t", sess.TenantID,
		"ip", sess.IPAddress, "ua", sess.UserAgent, "c", micros(sess.CreatedAt), "la", micros(sess.LastActivity),
		"e", micros(sess.ExpiresAt), "a", micros(sess.AuthenticatedAt), "d", data, "hd", hasData,
		"v", strconv.FormatInt(sess.Version, 10), "f", strings.Join(sess.Flags, ","),
	}
}

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

// The scripts share these conventions: KEYS[1] is the prefix's "root" key
// (unused but names the slot), ARGV[1] the prefix "{p}:".

// createScript inserts a session: ARGV = prefix, lim (0: none), evict
// (0/1), now, idleBefore, channel, then the session's fields. It returns
// {"ok", evicted ids…}, {"conflict"} or {"limit"}.
var createScript = rueidis.NewLuaScript(`
local p, lim, evict, now, idle, ch = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local f = {}
for i = 7, #ARGV, 2 do f[ARGV[i]] = ARGV[i+1] end
local skey, hkey = p .. 's:' .. f.id, p .. 'h:' .. f.th
if redis.call('EXISTS', skey) == 1 or redis.call('EXISTS', hkey) == 1 then return {'conflict'} end
local out = {'ok'}
if lim > 0 then
  local live = {}
  for _, id in ipairs(redis.call('SMEMBERS', p .. 'u:' .. f.u)) do
    local v = redis.call('HMGET', p .. 's:' .. id, 'e', 'la')
    if v[1] and tonumber(v[1]) > now and tonumber(v[2]) > idle then
      table.insert(live, {id, tonumber(v[2])})
    end
  end
  local over = #live - lim + 1
  if over > 0 then
    if evict ~= '1' then return {'limit'} end
    table.sort(live, function(a, b) if a[2] == b[2] then return a[1] < b[1] end return a[2] < b[2] end)
    for i = 1, over do
      local id = live[i][1]
      local old = redis.call('HMGET', p .. 's:' .. id, 'th', 'u', 't')
      redis.call('DEL', p .. 's:' .. id, p .. 'h:' .. old[1])
      redis.call('SREM', p .. 'u:' .. old[2], id)
      redis.call('SREM', p .. 't:' .. old[3], id)
      redis.call('HDEL', p .. 'owner', id)
      redis.call('ZREM', p .. 'exp', id)
      redis.call('ZREM', p .. 'idle', id)
      redis.call('PUBLISH', ch, 's:' .. id)
      table.insert(out, id)
    end
  end
end
for k, v in pairs(f) do redis.call('HSET', skey, k, v) end
redis.call('SET', hkey, f.id)
redis.call('PEXPIREAT', skey, math.floor(tonumber(f.e) / 1000) + 1)
redis.call('PEXPIREAT', hkey, math.floor(tonumber(f.e) / 1000) + 1)
redis.call('SADD', p .. 'u:' .. f.u, f.id)
redis.call('SADD', p .. 't:' .. f.t, f.id)
redis.call('HSET', p .. 'owner', f.id, f.u .. '\n' .. f.t)
redis.call('ZADD', p .. 'exp', f.e, f.id)
redis.call('ZADD', p .. 'idle', f.la, f.id)
return out
`)

// deleteScript deletes sessions by id: ARGV = prefix, channel, message,
// ids…; returns how many existed. The owner hash (id -> user, tenant; no
// TTL) finds the index entries of a session whose keys Redis already
// expired. The message (a change, or "" for none) is published once, and
// only when a session existed: a bulk deletion is one message, not one per
// id, and ids already gone need none (#16.2).
var deleteScript = rueidis.NewLuaScript(`
local p, ch, msg, n = ARGV[1], ARGV[2], ARGV[3], 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local old = redis.call('HMGET', p .. 's:' .. id, 'th', 'u', 't')
  if old[1] then
    redis.call('DEL', p .. 's:' .. id, p .. 'h:' .. old[1])
    n = n + 1
  end
  local owner = redis.call('HGET', p .. 'owner', id)
  if owner then
    local nl = string.find(owner, '\n', 1, true)
    redis.call('SREM', p .. 'u:' .. string.sub(owner, 1, nl - 1), id)
    redis.call('SREM', p .. 't:' .. string.sub(owner, nl + 1), id)
    redis.call('HDEL', p .. 'owner', id)
  end
  redis.call('ZREM', p .. 'exp', id)
  redis.call('ZREM', p .. 'idle', id)
end
if n > 0 and msg ~= '' then redis.call('PUBLISH', ch, msg) end
return n
`)

// tenantBatch is how many sessions one call of tenantScript deletes: a
// few hundred, so that no call blocks Redis for more than a few
// milliseconds (#16.5).
const tenantBatch = 100

// tenantScript deletes up to ARGV[3] sessions of the tenant ARGV[2] in
// part ARGV[1]: it pops their ids from the tenant's set and deletes each
// session with its index entries, as deleteScript does. It returns
// {sessions that existed, ids left in the tenant's set}. Each call is
// atomic; a revocation interrupted between calls resumes where it
// stopped, since the ids not yet popped are still in the set.
var tenantScript = rueidis.NewLuaScript(`
local p, tenant, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
local tkey = p .. 't:' .. tenant
local n = 0
for _, id in ipairs(redis.call('SPOP', tkey, count)) do
  local old = redis.call('HMGET', p .. 's:' .. id, 'th')
  if old[1] then
    redis.call('DEL', p .. 's:' .. id, p .. 'h:' .. old[1])
    n = n + 1
  end
  local owner = redis.call('HGET', p .. 'owner', id)
  if owner then
    local nl = string.find(owner, '\n', 1, true)
    redis.call('SREM', p .. 'u:' .. string.sub(owner, 1, nl - 1), id)
    redis.call('HDEL', p .. 'owner', id)
  end
  redis.call('ZREM', p .. 'exp', id)
  redis.call('ZREM', p .. 'idle', id)
end
return {n, redis.call('SCARD', tkey)}
`)

// rotateScript: ARGV = prefix, channel, oldID, new session fields…;
// returns 1, 0 (old gone) or -1 (conflict).
var rotateScript = rueidis.NewLuaScript(`
local p, ch, oldID = ARGV[1], ARGV[2], ARGV[3]
local old = redis.call('HMGET', p .. 's:' .. oldID, 'th', 'u', 't')
if not old[1] then return 0 end
local f = {}
for i = 4, #ARGV, 2 do f[ARGV[i]] = ARGV[i+1] end
if f.th ~= old[1] and redis.call('EXISTS', p .. 'h:' .. f.th) == 1 then return -1 end
if f.id ~= oldID and redis.call('EXISTS', p .. 's:' .. f.id) == 1 then return -1 end
redis.call('DEL', p .. 's:' .. oldID, p .. 'h:' .. old[1])
redis.call('SREM', p .. 'u:' .. old[2], oldID)
redis.call('SREM', p .. 't:' .. old[3], oldID)
redis.call('ZREM', p .. 'exp', oldID)
redis.call('ZREM', p .. 'idle', oldID)
local skey, hkey = p .. 's:' .. f.id, p .. 'h:' .. f.th
for k, v in pairs(f) do redis.call('HSET', skey, k, v) end
redis.call('SET', hkey, f.id)
redis.call('PEXPIREAT', skey, math.floor(tonumber(f.e) / 1000) + 1)
redis.call('PEXPIREAT', hkey, math.floor(tonumber(f.e) / 1000) + 1)
redis.call('HDEL', p .. 'owner', oldID)
redis.call('SADD', p .. 'u:' .. f.u, f.id)
redis.call('SADD', p .. 't:' .. f.t, f.id)
redis.call('HSET', p .. 'owner', f.id, f.u .. '\n' .. f.t)
redis.call('ZADD', p .. 'exp', f.e, f.id)
redis.call('ZADD', p .. 'idle', f.la, f.id)
redis.call('PUBLISH', ch, 's:' .. oldID)
return 1
`)

// touchScript: ARGV = prefix, then id, at pairs. Only existing sessions,
// only forward.
var touchScript = rueidis.NewLuaScript(`
local p = ARGV[1]
for i = 2, #ARGV, 2 do
  local key = p .. 's:' .. ARGV[i]
  local la = redis.call('HGET', key, 'la')
  if la and tonumber(la) < tonumber(ARGV[i+1]) then
    redis.call('HSET', key, 'la', ARGV[i+1])
    redis.call('ZADD', p .. 'idle', ARGV[i+1], ARGV[i])
  end
end
return 0
`)

// updateDataScript: ARGV = prefix, channel, id, version, hasData, data;
// returns 1, 0 (gone) or -1 (stale version).
var updateDataScript = rueidis.NewLuaScript(`
local p, ch, id = ARGV[1], ARGV[2], ARGV[3]
local key = p .. 's:' .. id
local v = redis.call('HGET', key, 'v')
if not v then return 0 end
if v ~= ARGV[4] then return -1 end
redis.call('HSET', key, 'v', tostring(tonumber(v) + 1), 'hd', ARGV[5], 'd', ARGV[6])
redis.call('PUBLISH', ch, 's:' .. id)
return 1
`)

// flagsScript: ARGV = prefix, channel, id, flags; returns 1 or 0 (gone).
var flagsScript = rueidis.NewLuaScript(`
local p, ch, id = ARGV[1], ARGV[2], ARGV[3]
local key = p .. 's:' .. id
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, 'f', ARGV[4])
redis.call('PUBLISH', ch, 's:' .. id)
return 1
`)

// CreateSession implements sessiond.SessionStore.
func (s *Store) CreateSession(ctx context.Context, sess *sessiond.Session) error {
	_, err := s.CreateSessionLimited(ctx, sess, sessiond.Limit{})
	return err
}

// CreateSessionLimited implements sessiond.SessionStore in one script.
func (s *Store) CreateSessionLimited(ctx context.Context, sess *sessiond.Session, lim sessiond.Limit) ([]*sessiond.Session, error) {
	evict := "0"
	if lim.Evict {
		evict = "1"
	}
	bp := s.part(sess.UserID)
	args := append([]string{bp, strconv.Itoa(lim.Max), evict, micros(lim.Now), micros(lim.IdleBefore), s.events}, sessionFields(sess)...)
	// The evicted sessions are read first (outside the script) only to
	// report them; the script decides.
	before := map[string]*sessiond.Session{}
	if lim.Max > 0 {
		list, err := s.SessionsByUser(ctx, sess.UserID)
		if err != nil {
			return nil, err
		}
		for _, old := range list {
			before[old.ID] = old
		}
	}
	if err := s.claimPointers(ctx, sess, false); err != nil {
		return nil, err
	}
	out, err := createScript.Exec(ctx, s.c, []string{bp}, args).AsStrSlice()
	if err != nil {
		// The script may have run all the same (an answer lost on the
		// way): the pointers stay, and expire with the session.
		return nil, translate(err)
	}
	switch out[0] {
	case "conflict":
		s.dropPointers(ctx, sess, false)
		return nil, sessiond.ErrConflict
	case "limit":
		s.dropPointers(ctx, sess, false)
		return nil, sessiond.ErrLimitReached
	}
	var evicted []*sessiond.Session
	for _, id := range out[1:] {
		if old := before[id]; old != nil {
			evicted = append(evicted, old)
		} else {
			evicted = append(evicted, &sessiond.Session{ID: id, UserID: sess.UserID})
		}
	}
	return evicted, nil
}

// SessionByTokenHash implements sessiond.SessionStore.
func (s *Store) SessionByTokenHash(ctx context.Context, h sessiond.TokenHash) (*sessiond.Session, error) {
	th := hex.EncodeToString(h[:])
	key := s.k("h", th) // -> id
	if s.shards > 1 {
		key = s.hashPointer(th) // -> user "\n" id
	}
	v, err := s.c.Do(ctx, s.c.B().Get().Key(key).Build()).ToString()
	if err != nil {
		return nil, translate(err)
	}
	bp, id := s.p, v
	if s.shards > 1 {
		user, rest, _ := strings.Cut(v, "\n")
		bp, id = s.part(user), rest
	}
	sess, err := s.sessionIn(ctx, bp, id)
	if err == nil && sess.TokenHash != h {
		return nil, sessiond.ErrNotFound
	}
	return sess, err
}

// SessionByID implements sessiond.SessionStore.
func (s *Store) SessionByID(ctx context.Context, id string) (*sessiond.Session, error) {
	bp, err := s.locate(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.sessionIn(ctx, bp, id)
}

// sessionIn reads session id from the part bp.
func (s *Store) sessionIn(ctx context.Context, bp, id string) (*sessiond.Session, error) {
	m, err := s.c.Do(ctx, s.c.B().Hgetall().Key(bp+"s:"+id).Build()).AsStrMap()
	if err != nil {
		return nil, translate(err)
	}
	return parseSession(m)
}

// SessionsByUser implements sessiond.SessionStore: the user's set, then one
// pipelined HGETALL per member.
func (s *Store) SessionsByUser(ctx context.Context, userID string) ([]*sessiond.Session, error) {
	bp := s.part(userID)
	ids, err := s.c.Do(ctx, s.c.B().Smembers().Key(bp+"u:"+userID).Build()).AsStrSlice()
	if err != nil {
		return nil, translate(err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make(rueidis.Commands, len(ids))
	for i, id := range ids {
		cmds[i] = s.c.B().Hgetall().Key(bp + "s:" + id).Build()
	}
	var out []*sessiond.Session
	for _, r := range s.c.DoMulti(ctx, cmds...) {
		m, err := r.AsStrMap()
		if err != nil {
			return nil, translate(err)
		}
		if len(m) == 0 {
			continue // expired or deleted since the set was read
		}
		sess, err := parseSession(m)
		if err != nil {
			return nil, err
		}
		out = append(out, sess)
	}
	return out, nil
}

// TouchSessions implements sessiond.SessionStore.
func (s *Store) TouchSessions(ctx context.Context, touches []sessiond.Touch) error {
	if len(touches) == 0 {
		return nil
	}
	parts := make([]string, len(touches))
	if s.shards == 1 {
		for i := range parts {
			parts[i] = s.p
		}
	} else {
		cmds := make(rueidis.Commands, len(touches))
		for i, t := range touches {
			cmds[i] = s.c.B().Get().Key(s.idPointer(t.ID)).Build()
		}
		for i, r := range s.c.DoMulti(ctx, cmds...) {
			user, err := r.ToString()
			switch {
			case rueidis.IsRedisNil(err):
				continue // gone: nothing to touch
			case err != nil:
				return translate(err)
			}
			parts[i] = s.part(user)
		}
	}
	byPart := map[string][]string{}
	for i, t := range touches {
		if parts[i] != "" {
			byPart[parts[i]] = append(byPart[parts[i]], t.ID, micros(t.At))
		}
	}
	execs := make([]rueidis.LuaExec, 0, len(byPart))
	for bp, pairs := range byPart {
		execs = append(execs, rueidis.LuaExec{Keys: []string{bp}, Args: append([]string{bp}, pairs...)})
	}
	for _, r := range touchScript.ExecMulti(ctx, s.c, execs...) {
		if err := r.Error(); err != nil {
			return translate(err)
		}
	}
	return nil
}

// UpdateSessionData implements sessiond.SessionStore.
func (s *Store) UpdateSessionData(ctx context.Context, id string, data json.RawMessage, version int64) error {
	has := "0"
	if data != nil {
		has = "1"
	}
	bp, err := s.locate(ctx, id)
	if err != nil {
		return err
	}
	n, err := updateDataScript.Exec(ctx, s.c, []string{bp}, []string{bp, s.events, id, strconv.FormatInt(version, 10), has, string(data)}).ToInt64()
	return scriptResult(n, err)
}

// RotateSession implements sessiond.SessionStore.
func (s *Store) RotateSession(ctx context.Context, oldID string, sess *sessiond.Session) error {
	bp, err := s.locate(ctx, oldID)
	if err != nil {
		return err
	}
	if bp != s.part(sess.UserID) {
		return fmt.Errorf("redisstore: rotating session %s would move it to another user", oldID)
	}
	keepID := sess.ID == oldID
	if err := s.claimPointers(ctx, sess, keepID); err != nil {
		return err
	}
	args := append([]string{bp, s.events, oldID}, sessionFields(sess)...)
	n, err := rotateScript.Exec(ctx, s.c, []string{bp}, args).ToInt64()
	if err == nil && n != 1 {
		// A definite no (old session gone, or a conflict). After an error
		// the script may have run: the pointers stay and expire.
		s.dropPointers(ctx, sess, keepID)
	} else if err == nil && keepID && s.shards > 1 {
		// The id pointer expires with the old session; rotation keeps the
		// deadline (SEC-09), but a caller may set another.
		s.c.Do(ctx, s.c.B().Set().Key(s.idPointer(oldID)).Value(sess.UserID).Xx().PxatMillisecondsTimestamp(sess.ExpiresAt.UnixMilli()+1).Build())
	}
	return scriptResult(n, err)
}

func scriptResult(n int64, err error) error {
	switch {
	case err != nil:
		return translate(err)
	case n == 0:
		return sessiond.ErrNotFound
	case n < 0:
		return sessiond.ErrConflict
	}
	return nil
}

// DeleteSession implements sessiond.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	bp, err := s.locate(ctx, id)
	if err != nil {
		return err
	}
	n, err := deleteScript.Exec(ctx, s.c, []string{bp}, []string{bp, s.events, sessiond.Change{SessionID: id}.String(), id}).ToInt64()
	return scriptResult(n, err)
}

// DeleteUserSessions implements sessiond.SessionStore in one script that
// publishes the user's change once, when it deleted something.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, except string) (int, error) {
	bp := s.part(userID)
	ids, err := s.c.Do(ctx, s.c.B().Smembers().Key(bp+"u:"+userID).Build()).AsStrSlice()
	if err != nil {
		return 0, translate(err)
	}
	args := []string{bp, s.events, sessiond.Change{UserID: userID}.String()}
	for _, id := range ids {
		if id != except {
			args = append(args, id)
		}
	}
	if len(args) == 3 {
		return 0, nil
	}
	n, err := deleteScript.Exec(ctx, s.c, []string{bp}, args).ToInt64()
	return int(n), translate(err)
}

// announce publishes a change that concerns many sessions at once.
func (s *Store) announce(ctx context.Context, c sessiond.Change) error {
	return translate(s.c.Do(ctx, s.c.B().Publish().Channel(s.events).Message(c.String()).Build()).Error())
}

// DeleteTenantSessions implements sessiond.SessionStore in batches of
// tenantBatch sessions, each one short atomic script, so that a tenant of
// any size never blocks Redis for long (a tenant's users may live in every
// part). The tenant's change is published before the first batch, so that
// every node drops the tenant's cached sessions at once, and again after
// the last: a node that read a session between the two, before its batch
// deleted it, drops it then. The deletion is idempotent and resumable: an
// error or a deadline leaves the ids not yet deleted in the tenant's set,
// and calling again finishes the work.
func (s *Store) DeleteTenantSessions(ctx context.Context, tenantID string) (int, error) {
	c := sessiond.Change{TenantID: tenantID}
	if err := s.announce(ctx, c); err != nil {
		return 0, err
	}
	total := 0
	for _, bp := range s.parts() {
		for left := int64(1); left > 0; {
			res, err := tenantScript.Exec(ctx, s.c, []string{bp}, []string{bp, tenantID, strconv.Itoa(tenantBatch)}).AsIntSlice()
			if err == nil && len(res) != 2 {
				err = fmt.Errorf("redisstore: tenant batch answered %v", res)
			}
			if err != nil {
				// Announce again what is done so far, even though the
				// call was cut short: a node that cached one of these
				// sessions between the first announcement and its batch
				// must drop it now, not at its cache TTL.
				s.announce(context.WithoutCancel(ctx), c)
				return total, translate(err)
			}
			total += int(res[0])
			left = res[1]
		}
	}
	return total, s.announce(ctx, c)
}

// SetSessionFlags implements sessiond.SessionStore.
func (s *Store) SetSessionFlags(ctx context.Context, id string, flags []string) error {
	bp, err := s.locate(ctx, id)
	if err != nil {
		return err
	}
	n, err := flagsScript.Exec(ctx, s.c, []string{bp}, []string{bp, s.events, id, strings.Join(flags, ",")}).ToInt64()
	return scriptResult(n, err)
}

// DeleteExpiredSessions implements sessiond.SessionStore from the two
// deadline indexes of each part, one part after the other, starting where
// the last call stopped. Keys past the absolute deadline have already
// expired by themselves; this also clears their index entries and idle
// sessions.
//
// Only one node purges at a time, as on PostgreSQL: a call runs only
// while it holds the purge lock ({prefix}:purge, SET NX PX with a token of
// its own, deleted by a compare-and-delete script, so that a call that
// outlived its lock never frees another's); a node that does not get it
// deletes nothing and returns 0. The purge publishes nothing: every node
// refuses a session past its deadlines by itself (Manager.Validate).
func (s *Store) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time, limit int) (int, error) {
	token, err := s.lockPurge(ctx)
	if err != nil || token == "" {
		return 0, err
	}
	defer unlockScript.Exec(context.WithoutCancel(ctx), s.c, []string{s.k("purge")}, []string{token})
	parts := s.parts()
	start := int(s.purgeAt.Load()) % len(parts)
	total := 0
	for i := range parts {
		n, err := s.deleteExpiredIn(ctx, parts[(start+i)%len(parts)], now, idleBefore, limit-total)
		total += n
		if err != nil {
			return total, err
		}
		if total >= limit {
			s.purgeAt.Store(uint32((start + i) % len(parts)))
			break
		}
	}
	return total, nil
}

// purgeLockTTL bounds how long a purge call holds the lock if its node
// dies holding it. A call is bounded by the Manager's StoreTimeout, far
// shorter.
const purgeLockTTL = 30 * time.Second

// lockPurge takes the purge lock and returns its token, or "" when
// another node holds it.
func (s *Store) lockPurge(ctx context.Context) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b[:])
	err := s.c.Do(ctx, s.c.B().Set().Key(s.k("purge")).Value(token).Nx().Px(purgeLockTTL).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return "", nil
	}
	if err != nil {
		return "", translate(err)
	}
	return token, nil
}

// unlockScript deletes the lock KEYS[1] only if it still holds the token
// ARGV[1].
var unlockScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

func (s *Store) deleteExpiredIn(ctx context.Context, bp string, now, idleBefore time.Time, limit int) (int, error) {
	seen := map[string]bool{}
	var ids []string
	for _, q := range []struct{ key, max string }{{bp + "exp", micros(now)}, {bp + "idle", micros(idleBefore)}} {
		got, err := s.c.Do(ctx, s.c.B().Zrangebyscore().Key(q.key).Min("-inf").Max(q.max).Limit(0, int64(limit)).Build()).AsStrSlice()
		if err != nil {
			return 0, translate(err)
		}
		for _, id := range got {
			if !seen[id] && len(ids) < limit {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	// Counted as purged whether or not Redis had expired the keys
	// already: the index entries are the work.
	if _, err := deleteScript.Exec(ctx, s.c, []string{bp}, append([]string{bp, s.events, ""}, ids...)).ToInt64(); err != nil {
		return 0, translate(err)
	}
	return len(ids), nil
}

// Ping implements sessiond.SessionStore.
func (s *Store) Ping(ctx context.Context) error {
	return translate(s.c.Do(ctx, s.c.B().Ping().Build()).Error())
}

func userFields(u *sessiond.User) []string {
	return []string{"id", u.ID, "email", u.Email, "key", u.EmailKey, "ph", u.PasswordHash, "t", u.TenantID,
		"no", strconv.FormatBool(u.NeedsOnboarding), "os", u.OnboardingStep, "dis", strconv.FormatBool(u.Disabled),
		"at", attributes(u), "c", micros(u.CreatedAt), "up", micros(u.UpdatedAt), "v", strconv.FormatInt(u.Version, 10)}
}

// attributes is the stored form of a user's attributes: {} for none.
func attributes(u *sessiond.User) string {
	if len(u.Attributes) == 0 {
		return "{}"
	}
	return string(u.Attributes)
}

// userScript creates (ARGV[3] = "create"), updates ("update") or deletes
// ("delete", ARGV[4] = id) a user, keeping the email index unique and the
// id index ({prefix}:users, a sorted set of score 0 listed by
// lexicographic range) complete: ARGV = prefix, channel, mode, fields…. An
// update applies only when the stored version ("v", absent on users
// stored before versions existed: 0) equals the given one, and stores it
// plus one. It returns 1, 0 (update or delete of a missing user) or -1 (id
// or email key taken, or a stale version).
var userScript = rueidis.NewLuaScript(`
local p, ch, mode = ARGV[1], ARGV[2], ARGV[3]
if mode == 'delete' then
  local id = ARGV[4]
  local ukey = p .. 'user:' .. id
  local key = redis.call('HGET', ukey, 'key')
  if not key then return 0 end
  redis.call('DEL', ukey)
  if redis.call('GET', p .. 'email:' .. key) == id then redis.call('DEL', p .. 'email:' .. key) end
  redis.call('ZREM', p .. 'users', id)
  redis.call('PUBLISH', ch, 'u:' .. id)
  return 1
end
local f = {}
for i = 4, #ARGV, 2 do f[ARGV[i]] = ARGV[i+1] end
local ukey = p .. 'user:' .. f.id
local exists = redis.call('EXISTS', ukey) == 1
if mode == 'create' and exists then return -1 end
if mode ~= 'create' and not exists then return 0 end
local owner = redis.call('GET', p .. 'email:' .. f.key)
if owner and owner ~= f.id then return -1 end
if mode ~= 'create' then
  local v = redis.call('HGET', ukey, 'v') or '0'
  if v ~= f.v then return -1 end
  f.v = tostring(tonumber(v) + 1)
  local old = redis.call('HGET', ukey, 'key')
  if old and old ~= f.key then redis.call('DEL', p .. 'email:' .. old) end
  f.c = redis.call('HGET', ukey, 'c')
end
for k, v in pairs(f) do redis.call('HSET', ukey, k, v) end
redis.call('SET', p .. 'email:' .. f.key, f.id)
redis.call('ZADD', p .. 'users', 0, f.id)
if mode ~= 'create' then redis.call('PUBLISH', ch, 'u:' .. f.id) end
return 1
`)

// CreateUser implements sessiond.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *sessiond.User) error {
	n, err := userScript.Exec(ctx, s.c, []string{s.p}, append([]string{s.p, s.events, "create"}, userFields(u)...)).ToInt64()
	return scriptResult(n, err)
}

// UpdateUser implements sessiond.UserStore: the version check and the
// write are one script.
func (s *Store) UpdateUser(ctx context.Context, u *sessiond.User) error {
	n, err := userScript.Exec(ctx, s.c, []string{s.p}, append([]string{s.p, s.events, "update"}, userFields(u)...)).ToInt64()
	if err = scriptResult(n, err); err == nil {
		u.Version++
	}
	return err
}

// DeleteUser implements sessiond.UserStore.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	n, err := userScript.Exec(ctx, s.c, []string{s.p}, []string{s.p, s.events, "delete", id}).ToInt64()
	return scriptResult(n, err)
}

// listScanBudget bounds the user records ListUsers reads for one page: a
// filter that matches few users returns a short page and a cursor rather
// than reading every user.
const listScanBudget = 1000

// ListUsers implements sessiond.UserStore: ids from the index in
// lexicographic (byte) order, records read in batches and filtered with
// UserFilter.MatchUser. Users stored before the index existed are listed
// once they are next updated.
func (s *Store) ListUsers(ctx context.Context, f sessiond.UserFilter) ([]*sessiond.User, string, error) {
	limit := max(f.Limit, 1)
	after := f.After
	var list []*sessiond.User
	for scanned := 0; scanned < listScanBudget; {
		lo := "-"
		if after != "" {
			lo = "(" + after
		}
		ids, err := s.c.Do(ctx, s.c.B().Zrangebylex().Key(s.k("users")).Min(lo).Max("+").Limit(0, 100).Build()).AsStrSlice()
		if err != nil {
			return nil, "", translate(err)
		}
		if len(ids) == 0 {
			return list, "", nil
		}
		cmds := make(rueidis.Commands, len(ids))
		for i, id := range ids {
			cmds[i] = s.c.B().Hgetall().Key(s.k("user", id)).Build()
		}
		for i, r := range s.c.DoMulti(ctx, cmds...) {
			m, err := r.AsStrMap()
			if err != nil {
				return nil, "", translate(err)
			}
			after = ids[i]
			scanned++
			if len(m) == 0 {
				continue // deleted meanwhile
			}
			if u := userFromMap(m); f.MatchUser(u) {
				if len(list) == limit {
					return list, list[limit-1].ID, nil
				}
				list = append(list, u)
			}
		}
	}
	return list, after, nil
}

// UserByID implements sessiond.UserStore.
func (s *Store) UserByID(ctx context.Context, id string) (*sessiond.User, error) {
	m, err := s.c.Do(ctx, s.c.B().Hgetall().Key(s.k("user", id)).Build()).AsStrMap()
	if err != nil {
		return nil, translate(err)
	}
	if len(m) == 0 {
		return nil, sessiond.ErrNotFound
	}
	return userFromMap(m), nil
}

func userFromMap(m map[string]string) *sessiond.User {
	no, _ := strconv.ParseBool(m["no"])
	dis, _ := strconv.ParseBool(m["dis"])
	v, _ := strconv.ParseInt(m["v"], 10, 64) // absent before versions: 0
	attrs := m["at"]                         // absent on users stored before attributes existed
	if attrs == "" {
		attrs = "{}"
	}
	return &sessiond.User{ID: m["id"], Email: m["email"], EmailKey: m["key"], PasswordHash: m["ph"], TenantID: m["t"],
		NeedsOnboarding: no, OnboardingStep: m["os"], Disabled: dis, Attributes: json.RawMessage(attrs),
		CreatedAt: fromMicros(m["c"]), UpdatedAt: fromMicros(m["up"]), Version: v}
}

// UserByEmailKey implements sessiond.UserStore.
func (s *Store) UserByEmailKey(ctx context.Context, key string) (*sessiond.User, error) {
	id, err := s.c.Do(ctx, s.c.B().Get().Key(s.k("email", key)).Build()).ToString()
	if err != nil {
		return nil, translate(err)
	}
	return s.UserByID(ctx, id)
}

// counterScript: KEYS[1] counter; ARGV = now (µs), expiry (µs), expiry
// (ms), then the back-off: free, base (µs), doublings, max (µs); a base of
// 0 means no back-off. The hash holds n, last (µs) and exp (µs). A counter
// past exp by the caller's clock starts over. It returns the new count, or
// 0 when the back-off refused the increment.
var counterScript = rueidis.NewLuaScript(`
local now, exp = tonumber(ARGV[1]), ARGV[2]
local free, base, k, max = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local c = redis.call('HMGET', KEYS[1], 'n', 'last', 'exp')
local n, last = tonumber(c[1]) or 0, tonumber(c[2]) or 0
if c[3] and tonumber(c[3]) <= now then n = 0 end
if base > 0 and n >= free then
  local delay = math.min(base * (2 ^ math.min(n - free, k)), max)
  if last + delay > now then return 0 end
end
redis.call('HSET', KEYS[1], 'n', n + 1, 'last', ARGV[1], 'exp', exp)
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return n + 1
`)

// releaseScript: KEYS[1] counter; takes one back, never below 0.
var releaseScript = rueidis.NewLuaScript(`
local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
if n and n > 0 then redis.call('HINCRBY', KEYS[1], 'n', -1) end
return 0
`)

// IncrementCounter implements sessiond.CounterStore in one script. An
// expired counter (by Redis or by the caller's clock) starts over at 1.
func (s *Store) IncrementCounter(ctx context.Context, key string, now time.Time, ttl time.Duration) (int64, error) {
	n, err := counterScript.Exec(ctx, s.c, []string{s.k("c", key)}, counterArgs(now, ttl, sessiond.Backoff{})).ToInt64()
	return n, translate(err)
}

// ReserveCounter implements sessiond.CounterStore in one script.
func (s *Store) ReserveCounter(ctx context.Context, key string, now time.Time, ttl time.Duration, b sessiond.Backoff) (bool, error) {
	n, err := counterScript.Exec(ctx, s.c, []string{s.k("c", key)}, counterArgs(now, ttl, b)).ToInt64()
	return n > 0, translate(err)
}

// ReleaseCounter implements sessiond.CounterStore.
func (s *Store) ReleaseCounter(ctx context.Context, key string) error {
	return translate(releaseScript.Exec(ctx, s.c, []string{s.k("c", key)}, nil).Error())
}

func counterArgs(now time.Time, ttl time.Duration, b sessiond.Backoff) []string {
	return []string{micros(now), micros(now.Add(ttl)), strconv.FormatInt(now.Add(ttl).UnixMilli(), 10),
		strconv.Itoa(b.Free), strconv.FormatInt(b.Base.Microseconds(), 10), strconv.FormatInt(b.Doublings(), 10),
		strconv.FormatInt(b.Max.Microseconds(), 10)}
}

// Counter implements sessiond.CounterStore.
func (s *Store) Counter(ctx context.Context, key string, now time.Time) (int64, time.Time, error) {
	m, err := s.c.Do(ctx, s.c.B().Hgetall().Key(s.k("c", key)).Build()).AsStrMap()
	if err != nil {
		return 0, time.Time{}, translate(err)
	}
	if len(m) == 0 || (m["exp"] != "" && !fromMicros(m["exp"]).After(now)) {
		return 0, time.Time{}, nil
	}
	n, _ := strconv.ParseInt(m["n"], 10, 64)
	return n, fromMicros(m["last"]), nil
}

// ResetCounter implements sessiond.CounterStore.
func (s *Store) ResetCounter(ctx context.Context, key string) error {
	return translate(s.c.Do(ctx, s.c.B().Del().Key(s.k("c", key)).Build()).Error())
}

// AppendEvent implements sessiond.EventStore: the event in the user's
// sorted set and in a global one for retention.
func (s *Store) AppendEvent(ctx context.Context, e *sessiond.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	score := float64(e.At.UnixMicro())
	cmds := rueidis.Commands{
		s.c.B().Zadd().Key(s.k("ev", e.UserID)).ScoreMember().ScoreMember(score, string(body)).Build(),
		s.c.B().Zadd().Key(s.k("evall")).ScoreMember().ScoreMember(score, e.UserID+"\x00"+string(body)).Build(),
	}
	for _, r := range s.c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return translate(err)
		}
	}
	return nil
}

// EventsByUser implements sessiond.EventStore.
func (s *Store) EventsByUser(ctx context.Context, userID string, limit int) ([]*sessiond.Event, error) {
	list, err := s.c.Do(ctx, s.c.B().Zrevrange().Key(s.k("ev", userID)).Start(0).Stop(int64(limit-1)).Build()).AsStrSlice()
	if err != nil {
		return nil, translate(err)
	}
	var out []*sessiond.Event
	for _, raw := range list {
		var e sessiond.Event
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return nil, fmt.Errorf("redisstore: event: %v", err)
		}
		e.At = e.At.UTC()
		out = append(out, &e)
	}
	return out, nil
}

// DeleteEventsBefore implements sessiond.EventStore.
func (s *Store) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	old, err := s.c.Do(ctx, s.c.B().Zrangebyscore().Key(s.k("evall")).Min("-inf").Max("("+strconv.FormatInt(before.UnixMicro(), 10)).
		Limit(0, int64(limit)).Build()).AsStrSlice()
	if err != nil {
		return 0, translate(err)
	}
	for _, m := range old {
		user, body, _ := strings.Cut(m, "\x00")
		cmds := rueidis.Commands{
			s.c.B().Zrem().Key(s.k("ev", user)).Member(body).Build(),
			s.c.B().Zrem().Key(s.k("evall")).Member(m).Build(),
		}
		for _, r := range s.c.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				return 0, translate(err)
			}
		}
	}
	return len(old), nil
}

// SeenDevice implements sessiond.DeviceStore.
func (s *Store) SeenDevice(ctx context.Context, userID, fingerprint string, at time.Time) (bool, error) {
	n, err := s.c.Do(ctx, s.c.B().Hsetnx().Key(s.k("dev", userID)).Field(fingerprint).Value(micros(at)).Build()).AsBool()
	return n, translate(err)
}

// claimScript: KEYS[1] the record; ARGV = now (µs), pendingUntil (µs, and
// ms for PEXPIREAT). Returns {1} when claimed, else {0, the record…}.
var claimScript = rueidis.NewLuaScript(`
local rec = redis.call('HGETALL', KEYS[1])
if #rec > 0 then
  local m = {}
  for i = 1, #rec, 2 do m[rec[i]] = rec[i+1] end
  if tonumber(m.e) > tonumber(ARGV[1]) then
    local out = {0}
    for i = 1, #rec do table.insert(out, rec[i]) end
    return out
  end
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'st', 'pending', 'c', ARGV[1], 'sh', ARGV[2], 'e', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return {1}
`)

func (s *Store) migrationKey(key sessiond.TokenHash) string {
	return s.k("m", hex.EncodeToString(key[:]))
}

// ClaimMigration implements sessiond.MigrationStore.
func (s *Store) ClaimMigration(ctx context.Context, key sessiond.TokenHash, now, pendingUntil time.Time) (*sessiond.Migration, bool, error) {
	res, err := claimScript.Exec(ctx, s.c, []string{s.migrationKey(key)},
		[]string{micros(now), micros(pendingUntil), strconv.FormatInt(pendingUntil.UnixMilli()+1, 10)}).ToArray()
	if err != nil {
		return nil, false, translate(err)
	}
	if first, _ := res[0].AsInt64(); first == 1 {
		return &sessiond.Migration{Key: key, State: sessiond.MigrationPending, CreatedAt: now.UTC(), ShareUntil: pendingUntil.UTC(), ExpiresAt: pendingUntil.UTC()}, true, nil
	}
	m := map[string]string{}
	for i := 1; i+1 < len(res); i += 2 {
		k, _ := res[i].ToString()
		v, _ := res[i+1].ToString()
		m[k] = v
	}
	return parseMigration(key, m), false, nil
}

func parseMigration(key sessiond.TokenHash, m map[string]string) *sessiond.Migration {
	mig := &sessiond.Migration{Key: key, State: m["st"], CreatedAt: fromMicros(m["c"]), ShareUntil: fromMicros(m["sh"]), ExpiresAt: fromMicros(m["e"])}
	if sealed, ok := m["sealed"]; ok {
		mig.Sealed = []byte(sealed)
	}
	return mig
}

// MigrationByKey implements sessiond.MigrationStore.
func (s *Store) MigrationByKey(ctx context.Context, key sessiond.TokenHash) (*sessiond.Migration, error) {
	m, err := s.c.Do(ctx, s.c.B().Hgetall().Key(s.migrationKey(key)).Build()).AsStrMap()
	if err != nil {
		return nil, translate(err)
	}
	if len(m) == 0 {
		return nil, sessiond.ErrNotFound
	}
	return parseMigration(key, m), nil
}

var finishScript = rueidis.NewLuaScript(`
if redis.call('HGET', KEYS[1], 'st') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'st', ARGV[1], 'sealed', ARGV[2], 'sh', ARGV[3], 'e', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return 1
`)

// FinishMigration implements sessiond.MigrationStore.
func (s *Store) FinishMigration(ctx context.Context, m *sessiond.Migration) error {
	n, err := finishScript.Exec(ctx, s.c, []string{s.migrationKey(m.Key)}, []string{m.State, string(m.Sealed),
		micros(m.ShareUntil), micros(m.ExpiresAt), strconv.FormatInt(m.ExpiresAt.UnixMilli()+1, 10)}).ToInt64()
	return scriptResult(n, err)
}

// DeleteMigration implements sessiond.MigrationStore.
func (s *Store) DeleteMigration(ctx context.Context, key sessiond.TokenHash) error {
	return translate(s.c.Do(ctx, s.c.B().Del().Key(s.migrationKey(key)).Build()).Error())
}

// WatchChanges implements sessiond.ChangeWatcher with SUBSCRIBE on a
// dedicated connection.
//
// Through Sentinel, that connection stays with the server it was opened to.
// After a failover the old master may stay up, cut off from the new one's
// PUBLISH messages until it is turned into a replica and has resynced, and
// the subscription would miss revocations without failing. So the watch
// ends as soon as the client follows a new master: the node flushes its
// cache and subscribes again, on the new master.
func (s *Store) WatchChanges(ctx context.Context, connected func(), onChange func(sessiond.Change)) error {
	master := s.master()
	dc, cancel := s.c.Dedicate()
	defer cancel()
	wait := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(m rueidis.PubSubMessage) {
			if c, ok := sessiond.ParseChange(m.Message); ok {
				onChange(c)
			}
		},
		OnSubscription: func(sub rueidis.PubSubSubscription) {
			if sub.Kind == "subscribe" {
				connected()
			}
		},
	})
	if err := dc.Do(ctx, dc.B().Subscribe().Channel(s.events).Build()).Error(); err != nil {
		return translate(err)
	}
	var check <-chan time.Time
	if s.sentinel {
		t := time.NewTicker(masterCheckInterval)
		defer t.Stop()
		check = t.C
	}
	for {
		select {
		case err := <-wait:
			if err == nil {
				err = errors.New("redisstore: subscription closed")
			}
			return translate(err)
		case <-ctx.Done():
			return ctx.Err()
		case <-check:
			if now := s.master(); now != master {
				return translate(fmt.Errorf("redisstore: the master moved from %s to %s; subscribing again", master, now))
			}
		}
	}
}

// ProbeFeed implements sessiond.FeedProber: the probe is published on the
// channel that WatchChanges subscribes to.
func (s *Store) ProbeFeed(ctx context.Context, probe string) error {
	return translate(s.c.Do(ctx, s.c.B().Publish().Channel(s.events).Message(sessiond.Change{Probe: probe}.String()).Build()).Error())
}

// masterCheckInterval is how often a watch through Sentinel checks that the
// client still uses the master it subscribed on: the longest a failover
// leaves a node's cache unflushed.
const masterCheckInterval = 100 * time.Millisecond

// master is the address the client sends writes to (through Sentinel, the
// current master).
func (s *Store) master() string {
	for addr := range s.c.Nodes() {
		return addr
	}
	return ""
}

// translate turns driver errors into sessiond's sentinels: a nil reply is
// ErrNotFound; anything else is a system error that names no driver type.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if rueidis.IsRedisNil(err) {
		return sessiond.ErrNotFound
	}
	return sessiond.StoreError("redisstore", err)
}

var (
	_ sessiond.Store         = (*Store)(nil)
	_ sessiond.ChangeWatcher = (*Store)(nil)
	_ sessiond.FeedProber    = (*Store)(nil)
)
