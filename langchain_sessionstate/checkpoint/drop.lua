-- Delete checkpoints (with their writes), then every blob no remaining checkpoint refers to.
-- KEYS: 1 ck:cp, 2 ck:idx, 3 ck:blobs, 4 ck:w, 5 ck:widx
-- ARGV: the members "<n>|<c>" to delete
-- Returns the number of checkpoints deleted. The references are read here, after the
-- deletes and atomically with them, so a checkpoint stored meanwhile keeps its blobs.
local cp, idx, blobs, w, widx = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local deleted = 0
for _, m in ipairs(ARGV) do
  deleted = deleted + redis.call('HDEL', cp, m)
  redis.call('ZREM', idx, m)
  local wf = redis.call('ZRANGEBYLEX', widx, '[' .. m .. '|', '[' .. m .. '|\255')
  for k = 1, #wf, 1000 do
    local part = {unpack(wf, k, math.min(k + 999, #wf))}
    redis.call('HDEL', w, unpack(part))
    redis.call('ZREM', widx, unpack(part))
  end
end
-- Every blob field a remaining record's header names (its base and its channel fields).
local used = {}
local records = redis.call('HGETALL', cp)
for j = 1, #records, 2 do
  local rec = records[j + 1]
  local nl = string.find(rec, '\n', 1, true)
  if string.sub(records[j], 1, 1) ~= '#' and nl then
    local n = 0
    for tok in string.gmatch(string.sub(rec, 1, nl - 1), '%S+') do
      n = n + 1
      if (n == 4 and tok ~= '-') or n >= 6 then used[tok] = true end
    end
  end
end
local garbage = {}
for _, f in ipairs(redis.call('HKEYS', blobs)) do
  if not used[f] then garbage[#garbage + 1] = f end
end
for k = 1, #garbage, 1000 do
  redis.call('HDEL', blobs, unpack(garbage, k, math.min(k + 999, #garbage)))
end
return deleted
