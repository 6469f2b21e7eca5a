-- Delete checkpoints (with their writes) and blobs, unless the thread changed since it was read.
-- KEYS: 1 ck:cp, 2 ck:idx, 3 ck:blobs, 4 ck:w, 5 ck:widx
-- ARGV: 1 generation read, 2 n_members, then members, then blob fields
-- Returns the number of checkpoints deleted, or -1 when the generation moved (read again).
local cp, idx, blobs, w, widx = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
if (redis.call('HGET', cp, '#g') or '0') ~= ARGV[1] then return -1 end
local n = tonumber(ARGV[2])
local deleted = 0
for j = 3, 2 + n do
  local m = ARGV[j]
  deleted = deleted + redis.call('HDEL', cp, m)
  redis.call('ZREM', idx, m)
  local wf = redis.call('ZRANGEBYLEX', widx, '[' .. m .. '|', '[' .. m .. '|\255')
  for k = 1, #wf, 1000 do
    local part = {unpack(wf, k, math.min(k + 999, #wf))}
    redis.call('HDEL', w, unpack(part))
    redis.call('ZREM', widx, unpack(part))
  end
end
for k = 3 + n, #ARGV, 1000 do
  redis.call('HDEL', blobs, unpack(ARGV, k, math.min(k + 999, #ARGV)))
end
redis.call('HINCRBY', cp, '#g', 1)
return deleted
