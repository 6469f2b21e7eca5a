-- KEYS: meta, sweep_active, sweep_soft   ARGV: status, member, ttl_ms
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
local last = redis.call('HGET', KEYS[1], 'last_active') or '0'
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
local target = nil
if ARGV[1] == 'active' then target = KEYS[2] end
if ARGV[1] == 'soft_expired' then target = KEYS[3] end
if target then
  redis.call('ZADD', target, last, ARGV[2])
  redis.call('PEXPIRE', target, ARGV[3])
end
return 1
