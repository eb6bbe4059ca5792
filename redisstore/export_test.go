package redisstore

// The format-1 writer, for tests only: the scripts and the fields with
// which earlier versions wrote sessions (as they were, so that the store's
// readers are tested against the records those versions left in Redis).

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// WriteFormat1 makes s write new and rotated sessions as earlier versions
// did (format 1: a hash per session, the set u:<user>, the owner hash and
// bare ids in the deadline index); everything else is unchanged.
func WriteFormat1(s *Store) {
	s.writer = recordWriter{create: format1CreateScript, rotate: format1RotateScript,
		args: func(sess *sessiond.Session) ([]string, error) { return format1Fields(sess), nil }}
}

// format1Fields are the hash fields of a format-1 session, in the order the scripts
// receive them.
func format1Fields(sess *sessiond.Session) []string {
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

// format1CreateScript inserts a session: ARGV = prefix, lim (0: none), evict
// (0/1), now, idleBefore, channel, then the session's fields. It returns
// {"ok", evicted ids…}, {"conflict"} or {"limit"}.
var format1CreateScript = rueidis.NewLuaScript(`
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

// format1RotateScript: ARGV = prefix, channel, oldID, new session fields…;
// returns 1, 0 (old gone) or -1 (conflict).
var format1RotateScript = rueidis.NewLuaScript(`
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
