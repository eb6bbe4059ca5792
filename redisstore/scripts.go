package redisstore

import (
	"github.com/redis/rueidis"
)

// Every Lua script of the store is in this file, beside the others, so
// that the keys each one touches can be checked together. The session and
// user scripts share these conventions: KEYS[1] is the prefix's "root" key
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

// unlockScript deletes the lock KEYS[1] only if it still holds the token
// ARGV[1].
var unlockScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

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

var finishScript = rueidis.NewLuaScript(`
if redis.call('HGET', KEYS[1], 'st') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'st', ARGV[1], 'sealed', ARGV[2], 'sh', ARGV[3], 'e', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return 1
`)

// sessionUserScript reads, in one call, the session that the token hash
// key KEYS[1] leads to and that session's user (one shard only: the hash
// key, the session and the user are all under {p}): ARGV = prefix. It
// returns {} when there is no session, else {session fields, user fields}
// as HGETALL lists them; the user's list is empty when there is no user.
var sessionUserScript = rueidis.NewLuaScript(`
local p = ARGV[1]
local id = redis.call('GET', KEYS[1])
if not id then return {} end
local s = redis.call('HGETALL', p .. 's:' .. id)
if #s == 0 then return {} end
local u = ''
for i = 1, #s, 2 do if s[i] == 'u' then u = s[i+1] end end
return {s, redis.call('HGETALL', p .. 'user:' .. u)}
`)
