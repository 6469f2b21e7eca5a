-- KEYS: meta, msgs, writes, sessions, sweep_active, sweep_soft[, lease]
-- ARGV: write_id, now_ms, ttl_ms, device, member, n_fields, n_msgs, fields..., msgs...
--       [, continues[, lease_px, escaped device]]
-- The arguments after the messages are optional (a plain turn sends none: every argument
-- costs the client time). continues = '1': the messages extend the current turn, the turn
-- count stays. With lease_px (and the lease key), the device must hold (or take, when free)
-- the user's lease: another device's unexpired lease refuses the turn before anything is
-- written ({0, 0, -1, holder, since}). The session id is the part of member after ':'
-- (escaped ids hold no ':').
-- Every redis.call costs more than its command: fields go out in one HSET, the message
-- count is RPUSH's reply, and started_at is written on the first turn only.
local meta, msgs, writes, sessions = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local active, soft = KEYS[5], KEYS[6]
local now, ttl = ARGV[2], ARGV[3]
local member = ARGV[5]
local sid = string.sub(member, string.find(member, ':', 1, true) + 1)
local nf, nm = tonumber(ARGV[6]), tonumber(ARGV[7])
local first_msg = 8 + 2 * nf
local opt = first_msg + nm
local continues, lease_px = ARGV[opt] == '1', ARGV[opt + 1]
-- A script is not rolled back when a command fails: a key of the wrong type must fail the
-- turn before anything is written. The writes set, the lease and the message list fail on
-- their own before any data is written (SISMEMBER, GET and RPUSH come first); the keys
-- written after them are checked here.
for _, j in ipairs({1, 4, 5, 6}) do
  local t = redis.call('TYPE', KEYS[j])['ok']
  local want = j == 1 and 'hash' or 'zset'
  if t ~= 'none' and t ~= want then
    return redis.error_reply('WRONGTYPE ' .. KEYS[j] .. ' holds a ' .. t .. ', expected a ' .. want)
  end
end
if ARGV[1] ~= '' and redis.call('SISMEMBER', writes, ARGV[1]) == 1 then
  local c = redis.call('HMGET', meta, 'turns', 'msgs')
  return {tonumber(c[1]) or 0, tonumber(c[2]) or 0, 0}
end
if lease_px then
  local exp = tonumber(now) + tonumber(lease_px)
  local other = take_lease(KEYS[7], ARGV[opt + 2], tonumber(now), exp, lease_px, sid, now, false)
  if other then return {0, 0, -1, other.holder, other.since or ''} end
end
-- RPUSH in chunks: Lua's unpack() is limited to a few thousand values.
local i = first_msg
local last = opt - 1
local count
while i <= last do
  local upto = math.min(i + 999, last)
  count = redis.call('RPUSH', msgs, unpack(ARGV, i, upto))
  i = upto + 1
end
if count == nil then count = redis.call('LLEN', msgs) end
if ARGV[1] ~= '' then redis.call('SADD', writes, ARGV[1]) end
local turns = redis.call('HINCRBY', meta, 'turns', continues and 0 or 1)
local h = {'last_active', now, 'status', 'active', 'msgs', count}
if ARGV[4] ~= '' then h[#h + 1] = 'device'; h[#h + 1] = ARGV[4] end
for j = 8, first_msg - 1 do h[#h + 1] = ARGV[j] end
redis.call('HSET', meta, unpack(h))
if turns <= 1 then redis.call('HSETNX', meta, 'started_at', now) end
redis.call('ZADD', sessions, now, sid)
redis.call('ZADD', active, now, member)
redis.call('ZREM', soft, member)
-- The sliding TTL of every session key and of the indexes this call added to, renewed
-- together once the meta hash has used up a tenth of it (one PTTL on most turns).
if redis.call('PTTL', meta) < tonumber(ttl) * 0.9 then
  for _, k in ipairs({meta, msgs, writes, sessions, active}) do redis.call('PEXPIRE', k, ttl) end
end
return {turns, count, 1}
