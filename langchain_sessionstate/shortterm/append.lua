-- KEYS: meta, msgs, writes, sessions, sweep_active, sweep_soft
-- ARGV: write_id, now_ms, ttl_ms, device, member, sid, n_fields, n_msgs, fields..., msgs...
local meta, msgs, writes, sessions = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local active, soft = KEYS[5], KEYS[6]
local now, ttl = ARGV[2], ARGV[3]
local nf, nm = tonumber(ARGV[7]), tonumber(ARGV[8])
if ARGV[1] ~= '' and redis.call('SADD', writes, ARGV[1]) == 0 then
  local c = redis.call('HMGET', meta, 'turns', 'msgs')
  return {tonumber(c[1]) or 0, tonumber(c[2]) or 0, 0}
end
local i = 9
if nf > 0 then redis.call('HSET', meta, unpack(ARGV, i, i + 2 * nf - 1)) end
i = i + 2 * nf
-- RPUSH in chunks: Lua's unpack() is limited to a few thousand values.
local last = i + nm - 1
while i <= last do
  local upto = math.min(i + 999, last)
  redis.call('RPUSH', msgs, unpack(ARGV, i, upto))
  i = upto + 1
end
local turns = redis.call('HINCRBY', meta, 'turns', 1)
local count = redis.call('HINCRBY', meta, 'msgs', nm)
redis.call('HSETNX', meta, 'started_at', now)
if ARGV[4] ~= '' then
  redis.call('HSET', meta, 'last_active', now, 'status', 'active', 'device', ARGV[4])
else
  redis.call('HSET', meta, 'last_active', now, 'status', 'active')
end
redis.call('ZADD', sessions, now, ARGV[6])
redis.call('ZADD', active, now, ARGV[5])
redis.call('ZREM', soft, ARGV[5])
for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, ttl) end
return {turns, count, 1}
