-- KEYS: meta   ARGV: error text
-- Count one failed finalization of an existing session and keep the last error.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = redis.call('HINCRBY', KEYS[1], 'fails', 1)
redis.call('HSET', KEYS[1], 'last_error', ARGV[1])
return n
