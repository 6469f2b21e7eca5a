-- Values are "<expires_ms>|<holder>[|<extra>]"; the holder decides, compared by the caller's now.
-- KEYS: key   ARGV: holder, now_ms, expires_ms, px, extra, force
local v = redis.call('GET', KEYS[1])
if v and ARGV[6] ~= '1' then
  local a = string.find(v, '|', 1, true)
  if a then
    local b = string.find(v, '|', a + 1, true)
    local holder = string.sub(v, a + 1, (b or 0) - 1)
    local exp = tonumber(string.sub(v, 1, a - 1)) or 0
    if holder ~= ARGV[1] and exp > tonumber(ARGV[2]) then return {0, holder} end
  end
end
local value = ARGV[3] .. '|' .. ARGV[1]
if ARGV[5] ~= '' then value = value .. '|' .. ARGV[5] end
redis.call('SET', KEYS[1], value, 'PX', ARGV[4])
return {1, ARGV[1]}
