-- KEYS: meta, msgs, writes   ARGV: ttl_ms, name1, value1, name2, value2, ...
-- State fields of an existing session, without counting a turn or touching last activity;
-- the session's keys keep one sliding TTL.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, ARGV[1]) end
return 1
