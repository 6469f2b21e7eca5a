-- KEYS: key   ARGV: holder
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local a = string.find(v, '|', 1, true)
if not a then return 0 end
local b = string.find(v, '|', a + 1, true)
if string.sub(v, a + 1, (b or 0) - 1) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
