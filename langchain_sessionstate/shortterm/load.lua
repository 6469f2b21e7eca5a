-- KEYS: meta, msgs   ARGV: recent (> 0 to read messages)
local meta = redis.call('HGETALL', KEYS[1])
if #meta == 0 or tonumber(ARGV[1]) <= 0 then return {meta, {}} end
return {meta, redis.call('LRANGE', KEYS[2], -tonumber(ARGV[1]), -1)}
