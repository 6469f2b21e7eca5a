-- KEYS: meta, msgs   ARGV: recent, known_count, known_first, known_started, known_rev
-- Returns {meta, messages, from}: the meta hash, then the messages from position `from` to
-- the end. A caller that already holds positions known_first..known_count-1 of the list
-- (same started_at and rev: the list was only appended to since) gets only what came after
-- them; anyone else gets the last `recent`. from = -1 when the hash has no usable count.
local meta = redis.call('HGETALL', KEYS[1])
local n = tonumber(ARGV[1])
if #meta == 0 or n <= 0 then return {meta, {}, 0} end
local total, started, rev = nil, '', '0'
for i = 1, #meta, 2 do
  local f = meta[i]
  if f == 'msgs' then total = tonumber(meta[i + 1])
  elseif f == 'started_at' then started = meta[i + 1]
  elseif f == 'rev' then rev = meta[i + 1] end
end
if total == nil then return {meta, redis.call('LRANGE', KEYS[2], -n, -1), -1} end
local from = math.max(total - n, 0)
local known, first = tonumber(ARGV[2]), tonumber(ARGV[3])
if known > from and known <= total and first <= from and started == ARGV[4]
    and rev == ARGV[5] then
  from = known
end
return {meta, redis.call('LRANGE', KEYS[2], from, -1), from}
