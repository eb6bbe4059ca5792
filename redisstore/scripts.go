package redisstore

import (
	"github.com/redis/rueidis"
)

// Every Lua script of the store is in this file, beside the others, so
// that the keys each one touches can be checked together. The session and
// user scripts share these conventions: KEYS[1] is the prefix's "root" key
// (unused but names the slot), ARGV[1] the prefix "{p}:".

// sessionLua is the part every session script starts with: how to read a
// session record of either format (see format.go) and how to delete one
// with its index entries.
//
//	loadSession(p, id)
//	        the session id of part p as {rec, th (hex), u, t, e, la} (rec:
//	        the decoded format-2 array, nil for format 1), or nil
//	put(p, id, th, u, t, e, la, rec)
//	        writes a format-2 session and its index entries (e, la: the
//	        strings of the microseconds)
//	save(key, a)
//	        rewrites the format-2 record a, keeping its deadline
//	unindex(p, id, u, t)
//	        removes id from the user's, tenant's and deadline indexes
//	drop(p, id, s)
//	        deletes session id (s = loadSession(p, id), or nil when its
//	        keys are gone) with every index entry that names it; returns
//	        1 when it deleted a record
//	userIDs(p, u)
//	        the ids in the user's indexes of both formats
//	record(p, id)
//	        the record as stored: a string (format 2), a list of fields
//	        (format 1), or false
const sessionLua = `
local F_TH, F_U, F_T, F_LA, F_E, F_D, F_V, F_F = 2, 3, 4, 8, 9, 11, 12, 13
local function hex(s)
  return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end))
end
local function loadSession(p, id)
  local key = p .. 's:' .. id
  local ty = redis.call('TYPE', key)['ok']
  if ty == 'string' then
    local a = cmsgpack.unpack(redis.call('GET', key))
    return {rec = a, th = hex(a[F_TH]), u = a[F_U], t = a[F_T], e = a[F_E], la = a[F_LA]}
  elseif ty == 'hash' then
    local v = redis.call('HMGET', key, 'th', 'u', 't', 'e', 'la')
    return {th = v[1], u = v[2], t = v[3], e = tonumber(v[4]), la = tonumber(v[5])}
  end
  return nil
end
local function save(key, a)
  redis.call('SET', key, cmsgpack.pack(a), 'KEEPTTL')
end
local function expMember(id, u, t) return cmsgpack.pack({id, u, t}) end
local function put(p, id, th, u, t, e, la, rec)
  local skey, hkey = p .. 's:' .. id, p .. 'h:' .. th
  local at = math.floor(tonumber(e) / 1000) + 1
  redis.call('SET', skey, rec)
  redis.call('SET', hkey, id)
  redis.call('PEXPIREAT', skey, at)
  redis.call('PEXPIREAT', hkey, at)
  redis.call('ZADD', p .. 'us:' .. u, 0, id)
  redis.call('SADD', p .. 't:' .. t, id)
  redis.call('ZADD', p .. 'exp', e, expMember(id, u, t))
  redis.call('ZADD', p .. 'idle', la, id)
end
local function unindex(p, id, u, t)
  redis.call('ZREM', p .. 'us:' .. u, id)
  redis.call('SREM', p .. 'u:' .. u, id)
  redis.call('SREM', p .. 't:' .. t, id)
  redis.call('ZREM', p .. 'exp', expMember(id, u, t))
end
local function drop(p, id, s)
  if s then
    redis.call('DEL', p .. 's:' .. id, p .. 'h:' .. s.th)
    unindex(p, id, s.u, s.t)
  end
  local owner = redis.call('HGET', p .. 'owner', id)
  if owner then
    local nl = string.find(owner, '\n', 1, true)
    unindex(p, id, string.sub(owner, 1, nl - 1), string.sub(owner, nl + 1))
    redis.call('HDEL', p .. 'owner', id)
  end
  redis.call('ZREM', p .. 'exp', id)
  redis.call('ZREM', p .. 'idle', id)
  if s then return 1 end
  return 0
end
local function userIDs(p, u)
  local ids = redis.call('SMEMBERS', p .. 'u:' .. u)
  for _, id in ipairs(redis.call('ZRANGE', p .. 'us:' .. u, 0, -1)) do table.insert(ids, id) end
  return ids
end
local function record(p, id)
  local key = p .. 's:' .. id
  local ty = redis.call('TYPE', key)['ok']
  if ty == 'string' then return redis.call('GET', key) end
  if ty == 'hash' then return redis.call('HGETALL', key) end
  return false
end
`

// sessionScript is a session script: sessionLua, then body.
func sessionScript(body string) *rueidis.Lua { return rueidis.NewLuaScript(sessionLua + body) }

// createScript inserts a session: ARGV = prefix, lim (0: none), evict
// (0/1), now, idleBefore, channel, then the session: id, token hash (hex),
// user, tenant, expires and last activity (µs), and its format-2 record;
// last, the message that announces evictions (the user's change,
// concealed: the script cannot compute a keyed hash). It returns {"ok",
// evicted ids…}, {"conflict"} or {"limit"}.
var createScript = sessionScript(`
local p, lim, evict, now, idle, ch = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local id, th, u, t, e, la, rec, msg = ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[#ARGV]
if redis.call('EXISTS', p .. 's:' .. id) == 1 or redis.call('EXISTS', p .. 'h:' .. th) == 1 then return {'conflict'} end
local out = {'ok'}
if lim > 0 then
  local live = {}
  for _, sid in ipairs(userIDs(p, u)) do
    local s = loadSession(p, sid)
    if s and s.e > now and s.la > idle then table.insert(live, {sid, s.la, s}) end
  end
  local over = #live - lim + 1
  if over > 0 then
    if evict ~= '1' then return {'limit'} end
    table.sort(live, function(a, b) if a[2] == b[2] then return a[1] < b[1] end return a[2] < b[2] end)
    for i = 1, over do
      drop(p, live[i][1], live[i][3])
      table.insert(out, live[i][1])
    end
    redis.call('PUBLISH', ch, msg)
  end
end
put(p, id, th, u, t, e, la, rec)
return out
`)

// deleteScript deletes sessions by id: ARGV = prefix, channel, message,
// ids…; returns how many existed. The message (a change, or "" for none)
// is published once, and only when a session existed: a bulk deletion is
// one message, not one per id, and ids already gone need none (#16.2).
var deleteScript = sessionScript(`
local p, ch, msg, n = ARGV[1], ARGV[2], ARGV[3], 0
for i = 4, #ARGV do n = n + drop(p, ARGV[i], loadSession(p, ARGV[i])) end
if n > 0 and msg ~= '' then redis.call('PUBLISH', ch, msg) end
return n
`)

// purgeScript deletes the sessions of part ARGV[1] that the purge found
// in the deadline indexes: ARGV = prefix, now, idleBefore, then members of
// the exp index or ids from the idle index. A session whose record is
// still there is deleted only if it is still past a deadline (a touch may
// have come since the indexes were read); one whose keys Redis already
// expired loses its index entries. It returns how many it deleted or
// cleared.
var purgeScript = sessionScript(`
local p, now, idle, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), 0
for i = 4, #ARGV do
  local id, u, t = ARGV[i], nil, nil
  if string.byte(id, 1) == 0x93 then
    local ok, m = pcall(cmsgpack.unpack, id)
    if ok and type(m) == 'table' then id, u, t = m[1], m[2], m[3] end
  end
  local s = loadSession(p, id)
  if not s or s.e <= now or s.la <= idle then
    drop(p, id, s)
    if u then unindex(p, id, u, t) end
    n = n + 1
  end
end
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
var tenantScript = sessionScript(`
local p, tenant, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
local tkey = p .. 't:' .. tenant
local n = 0
for _, id in ipairs(redis.call('SPOP', tkey, count)) do n = n + drop(p, id, loadSession(p, id)) end
return {n, redis.call('SCARD', tkey)}
`)

// rotateScript: ARGV = prefix, channel, oldID, then the new session as
// createScript takes it, last the old session's change (concealed);
// returns 1, 0 (old gone) or -1 (conflict).
var rotateScript = sessionScript(`
local p, ch, oldID = ARGV[1], ARGV[2], ARGV[3]
local id, th, u, t, e, la, rec = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local old = loadSession(p, oldID)
if not old then return 0 end
if th ~= old.th and redis.call('EXISTS', p .. 'h:' .. th) == 1 then return -1 end
if id ~= oldID and redis.call('EXISTS', p .. 's:' .. id) == 1 then return -1 end
drop(p, oldID, old)
put(p, id, th, u, t, e, la, rec)
redis.call('PUBLISH', ch, ARGV[#ARGV])
return 1
`)

// touchScript: ARGV = prefix, then id, at pairs. Only existing sessions,
// only forward.
var touchScript = sessionScript(`
local p = ARGV[1]
for i = 2, #ARGV, 2 do
  local key, at = p .. 's:' .. ARGV[i], tonumber(ARGV[i+1])
  local ty = redis.call('TYPE', key)['ok']
  if ty == 'string' then
    local a = cmsgpack.unpack(redis.call('GET', key))
    if a[F_LA] < at then
      a[F_LA] = at
      save(key, a)
      redis.call('ZADD', p .. 'idle', ARGV[i+1], ARGV[i])
    end
  elseif ty == 'hash' then
    local la = redis.call('HGET', key, 'la')
    if la and tonumber(la) < at then
      redis.call('HSET', key, 'la', ARGV[i+1])
      redis.call('ZADD', p .. 'idle', ARGV[i+1], ARGV[i])
    end
  end
end
return 0
`)

// updateDataScript: ARGV = prefix, channel, id, version, hasData, data,
// the session's change (concealed); returns 1, 0 (gone) or -1 (stale
// version).
var updateDataScript = sessionScript(`
local p, ch, id = ARGV[1], ARGV[2], ARGV[3]
local key = p .. 's:' .. id
local ty = redis.call('TYPE', key)['ok']
if ty == 'string' then
  local a = cmsgpack.unpack(redis.call('GET', key))
  if a[F_V] ~= tonumber(ARGV[4]) then return -1 end
  a[F_V] = a[F_V] + 1
  if ARGV[5] == '1' then a[F_D] = ARGV[6] else a[F_D] = false end
  save(key, a)
elseif ty == 'hash' then
  local v = redis.call('HGET', key, 'v')
  if v ~= ARGV[4] then return -1 end
  redis.call('HSET', key, 'v', tostring(tonumber(v) + 1), 'hd', ARGV[5], 'd', ARGV[6])
else
  return 0
end
redis.call('PUBLISH', ch, ARGV[7])
return 1
`)

// flagsScript: ARGV = prefix, channel, id, flags, the session's change
// (concealed); returns 1 or 0 (gone).
var flagsScript = sessionScript(`
local p, ch, id = ARGV[1], ARGV[2], ARGV[3]
local key = p .. 's:' .. id
local ty = redis.call('TYPE', key)['ok']
if ty == 'string' then
  local a = cmsgpack.unpack(redis.call('GET', key))
  a[F_F] = ARGV[4]
  save(key, a)
elseif ty == 'hash' then
  redis.call('HSET', key, 'f', ARGV[4])
else
  return 0
end
redis.call('PUBLISH', ch, ARGV[5])
return 1
`)

// readScript returns the record of session ARGV[2] in part ARGV[1]: a
// string (format 2), a list of fields (format 1) or nil.
var readScript = sessionScript(`return record(ARGV[1], ARGV[2])`)

// byHashScript returns {id, record} for the token hash key KEYS[1] in
// part ARGV[1] (one shard only), or {}.
var byHashScript = sessionScript(`
local id = redis.call('GET', KEYS[1])
if not id then return {} end
return {id, record(ARGV[1], id)}
`)

// recordsScript returns {id, record, id, record…} for the sessions ARGV[2…]
// of part ARGV[1]; a record is nil when the session is gone.
var recordsScript = sessionScript(`
local out = {}
for i = 2, #ARGV do
  table.insert(out, ARGV[i])
  table.insert(out, record(ARGV[1], ARGV[i]))
end
return out
`)

// userBatch is how many sessions one call of userBatchScript deletes, as
// tenantBatch (SEC-38).
const userBatch = 100

// userBatchScript deletes up to ARGV[6] sessions of the user ARGV[4] in
// part ARGV[1], all but the session ARGV[5]: ARGV = prefix, channel,
// message, user, except, count. It takes them from the user's indexes of
// both formats and deletes each with its index entries; an id whose
// session Redis already expired leaves the user's index too (its tenant
// and deadline entries are the purge's). The message (or "" for none) is
// published when a session existed. It returns {sessions that existed,
// ids left in the user's indexes but the exception}: each call is atomic,
// and a revocation cut short resumes with the ids still indexed.
var userBatchScript = sessionScript(`
local p, ch, msg, u, except, count = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local zkey, skey = p .. 'us:' .. u, p .. 'u:' .. u
local n, taken = 0, 0
local function take(ids)
  for _, id in ipairs(ids) do
    if id ~= except and taken < count then
      taken = taken + 1
      n = n + drop(p, id, loadSession(p, id))
      redis.call('ZREM', zkey, id)
      redis.call('SREM', skey, id)
    end
  end
end
take(redis.call('ZRANGE', zkey, 0, count))
if taken < count then take(redis.call('SRANDMEMBER', skey, count + 1)) end
if n > 0 and msg ~= '' then redis.call('PUBLISH', ch, msg) end
local left = redis.call('ZCARD', zkey) + redis.call('SCARD', skey)
if redis.call('ZSCORE', zkey, except) or redis.call('SISMEMBER', skey, except) == 1 then left = left - 1 end
return {n, left}
`)

// sessionUserScript reads, in one call, the session that the token hash
// key KEYS[1] leads to and that session's user (one shard only: the hash
// key, the session and the user are all under {p}): ARGV = prefix. It
// returns {} when there is no session, else {id, record, user fields as
// HGETALL lists them}; the user's list is empty when there is no user.
var sessionUserScript = sessionScript(`
local p = ARGV[1]
local id = redis.call('GET', KEYS[1])
if not id then return {} end
local s = loadSession(p, id)
if not s then return {} end
return {id, record(p, id), redis.call('HGETALL', p .. 'user:' .. s.u)}
`)

// probeScript publishes ARGV[2] on the channel ARGV[1] from the node that
// holds KEYS[1], a part's root key: a probe then travels as the part's
// changes do.
var probeScript = rueidis.NewLuaScript(`
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 0
`)

// unlockScript deletes the lock KEYS[1] only if it still holds the token
// ARGV[1].
var unlockScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// userScript creates (ARGV[3] = "create"), updates ("update") or deletes
// ("delete", ARGV[5] = id) a user, keeping the email index unique and the
// id index ({prefix}:users, a sorted set of score 0 listed by
// lexicographic range) complete: ARGV = prefix, channel, mode, the user's
// change (concealed; published by updates and deletes), fields…. An
// update applies only when the stored version ("v", absent on users
// stored before versions existed: 0) equals the given one, and stores it
// plus one. It returns 1, 0 (update or delete of a missing user) or -1 (id
// or email key taken, or a stale version).
var userScript = rueidis.NewLuaScript(`
local p, ch, mode, msg = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if mode == 'delete' then
  local id = ARGV[5]
  local ukey = p .. 'user:' .. id
  local key = redis.call('HGET', ukey, 'key')
  if not key then return 0 end
  redis.call('DEL', ukey)
  if redis.call('GET', p .. 'email:' .. key) == id then redis.call('DEL', p .. 'email:' .. key) end
  redis.call('ZREM', p .. 'users', id)
  redis.call('PUBLISH', ch, msg)
  return 1
end
local f = {}
for i = 5, #ARGV, 2 do f[ARGV[i]] = ARGV[i+1] end
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
if mode ~= 'create' then redis.call('PUBLISH', ch, msg) end
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
