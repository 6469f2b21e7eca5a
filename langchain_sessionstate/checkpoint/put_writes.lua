-- Pending writes of one task, idempotently, and the sliding TTL of every key of the thread.
-- KEYS: 1 ck:w, 2 ck:widx, then the thread's other keys (TTL only)
-- ARGV: 1 ttl_ms, then (field, value, overwrite "1"|"0") triples
-- A regular write (index >= 0) is kept once per (task, index); special channels overwrite.
local w, widx = KEYS[1], KEYS[2]
for j = 2, #ARGV, 3 do
  if ARGV[j + 2] == '1' then
    redis.call('HSET', w, ARGV[j], ARGV[j + 1])
  else
    redis.call('HSETNX', w, ARGV[j], ARGV[j + 1])
  end
  redis.call('ZADD', widx, 0, ARGV[j])
end
for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, ARGV[1]) end
return #ARGV
