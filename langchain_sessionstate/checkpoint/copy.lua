-- Copy a thread to a new thread id of the same user: checkpoints, writes, log, session state.
-- KEYS: 1-8 source ck:cp, ck:idx, ck:blobs, ck:w, ck:widx, ck:runs, msgs, meta;
--       9-16 the same keys of the target; 17 target sessions, 18 sweep_active,
--       19 shard ck:threads, 20 shard ck:runs
-- ARGV: 1 ttl_ms, 2 now_ms, 3 target sid, 4 target sweep member, 5 target thread member,
--       6 target run index prefix "<u>:<s>|"
-- Returns 1 copied, 0 no source checkpoints, -1 the target thread already exists.
for j = 9, 16 do
  if redis.call('EXISTS', KEYS[j]) == 1 then return -1 end
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ttl, now = ARGV[1], ARGV[2]
for j = 1, 8 do
  if redis.call('EXISTS', KEYS[j]) == 1 then
    redis.call('RESTORE', KEYS[j + 8], ttl, redis.call('DUMP', KEYS[j]))
  end
end
local meta = KEYS[16]
redis.call('HSET', meta, 'last_active', now, 'status', 'active', 'msgs', redis.call('LLEN', KEYS[15]))
redis.call('HSETNX', meta, 'started_at', now)
redis.call('PEXPIRE', meta, ttl)
redis.call('ZADD', KEYS[17], now, ARGV[3])
redis.call('ZADD', KEYS[18], now, ARGV[4])
redis.call('ZADD', KEYS[19], 0, ARGV[5])
for _, r in ipairs(redis.call('SMEMBERS', KEYS[14])) do
  redis.call('ZADD', KEYS[20], 0, ARGV[6] .. r)
end
for j = 17, 20 do redis.call('PEXPIRE', KEYS[j], ttl) end
return 1
