-- One checkpoint of a thread, its session records and the sliding TTL, atomically.
-- KEYS: 1 meta, 2 msgs (the session's message log), 3 writes (short-term replay set), 4 sessions,
--       5 sweep_active, 6 sweep_soft, 7 ck:cp, 8 ck:idx, 9 ck:blobs, 10 ck:w, 11 ck:widx,
--       12 ck:runs, 13 shard ck:threads, 14 shard ck:runs
-- ARGV: 1 member "<n>|<c>", 2 parent member or "", 3 header rest "<parent> <fields...>",
--       4 body, 5 now_ms, 6 ttl_ms, 7 activity "1"|"0", 8 sid, 9 sweep member, 10 thread member,
--       11 run id or "", 12 run index member or "", 13 log mode, 14 mlen, 15 base field or "-",
--       16 humans, 17 n_new, 18 n_ref, 19 n_fields, 20 n_log,
--       then n_new (field, blob) pairs, n_ref fields, n_fields (name, value) pairs, n_log entries.
-- Log modes (the messages channel of the root namespace):
--   none    no messages value
--   keep    unchanged: the parent's slice and base
--   append  parent's value + the n_log entries, which must land right after the parent's slice
--   tail    value held by the base blob; the n_log entries are logged after the current tail
-- Returns {1, llen, ls, le, base} stored, {0} already stored, {-1, llen} log tail moved,
--         {-2, field} a referenced blob is missing, {-3} the parent is missing.
local meta, log, cp, idx, blobs = KEYS[1], KEYS[2], KEYS[7], KEYS[8], KEYS[9]
local member, parent = ARGV[1], ARGV[2]
if redis.call('HEXISTS', cp, member) == 1 then return {0} end
local mode = ARGV[13]
local n_new, n_ref = tonumber(ARGV[17]), tonumber(ARGV[18])
local n_fields, n_log = tonumber(ARGV[19]), tonumber(ARGV[20])
local first_ref = 21 + 2 * n_new
for j = first_ref, first_ref + n_ref - 1 do
  if redis.call('HEXISTS', blobs, ARGV[j]) == 0 then return {-2, ARGV[j]} end
end
local ls, le, mlen, base = 0, 0, ARGV[14], ARGV[15]
local llen = redis.call('LLEN', log)
if mode == 'append' and parent == '' then
  -- A thread's first checkpoint: its value is the log from the start.
  if llen ~= 0 then return {-1, llen} end
elseif mode == 'keep' or mode == 'append' then
  local rec = parent ~= '' and redis.call('HGET', cp, parent)
  if not rec then return {-3} end
  local t = {}
  for tok in string.gmatch(string.sub(rec, 1, string.find(rec, '\n', 1, true) - 1), '%S+') do
    t[#t + 1] = tok
  end
  ls, le = tonumber(t[1]), tonumber(t[2])
  base = t[4]
  if mode == 'keep' then
    mlen = t[3]
  elseif le ~= llen then
    return {-1, llen}
  end
end
-- Log entries go out in chunks: Lua's unpack() is limited to a few thousand values.
local i = first_ref + n_ref + 2 * n_fields
local last = i + n_log - 1
while i <= last do
  local upto = math.min(i + 999, last)
  llen = redis.call('RPUSH', log, unpack(ARGV, i, upto))
  i = upto + 1
end
if mode == 'append' then
  le = llen
elseif mode == 'tail' then
  ls, le = llen, llen
end
i = 21
last = 20 + 2 * n_new
while i <= last do
  local upto = math.min(i + 999, last)
  redis.call('HSET', blobs, unpack(ARGV, i, upto))
  i = upto + 1
end
redis.call('HSET', cp, member, ls .. ' ' .. le .. ' ' .. mlen .. ' ' .. base .. ' ' .. ARGV[3] .. '\n' .. ARGV[4])
redis.call('ZADD', idx, 0, member)
local now, sid, humans = ARGV[5], ARGV[8], tonumber(ARGV[16])
local ttl_keys = {meta, log, KEYS[3], KEYS[4], cp, idx, blobs, KEYS[10], KEYS[11], KEYS[12], KEYS[13]}
if ARGV[7] == '1' then
  -- The graph worked on the thread: it is an active session now.
  local h = {'last_active', now, 'status', 'active', 'msgs', llen}
  local f = first_ref + n_ref
  for j = f, f + 2 * n_fields - 1 do h[#h + 1] = ARGV[j] end
  redis.call('HSET', meta, unpack(h))
  redis.call('HSETNX', meta, 'started_at', now)
  local pending = tonumber(redis.call('HGET', cp, '#t') or '0')
  if humans + pending > 0 then redis.call('HINCRBY', meta, 'turns', humans + pending) end
  if pending > 0 then redis.call('HDEL', cp, '#t') end
  redis.call('ZADD', KEYS[4], now, sid)
  redis.call('ZADD', KEYS[5], now, ARGV[9])
  redis.call('ZREM', KEYS[6], ARGV[9])
  ttl_keys[#ttl_keys + 1] = KEYS[5]
else
  -- The run's input being stored and applied: the session's activity waits for the graph's
  -- first node, so resumption inside that node still sees the gap since the previous turn.
  -- Listed in the user's sessions (erasure finds it); list_sessions skips it until it has
  -- a meta hash.
  redis.call('ZADD', KEYS[4], 'NX', now, sid)
  if redis.call('EXISTS', meta) == 1 then
    redis.call('HSET', meta, 'msgs', llen)
    if humans > 0 then redis.call('HINCRBY', meta, 'turns', humans) end
  elseif humans > 0 then
    redis.call('HINCRBY', cp, '#t', humans)
  end
end
redis.call('ZADD', KEYS[13], 0, ARGV[10])
if ARGV[11] ~= '' then
  redis.call('SADD', KEYS[12], ARGV[11])
  redis.call('ZADD', KEYS[14], 0, ARGV[12])
  ttl_keys[#ttl_keys + 1] = KEYS[14]
end
local ttl = ARGV[6]
for _, k in ipairs(ttl_keys) do redis.call('PEXPIRE', k, ttl) end
return {1, llen, ls, le, base}
