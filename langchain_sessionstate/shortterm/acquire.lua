-- KEYS: key   ARGV: holder, now_ms, expires_ms, px, extra, force, since_ms (optional)
-- Returns {1, holder, since} when taken or renewed, {0, other holder, its since} when held.
local other, since = take_lease(KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4],
  ARGV[5], ARGV[7] or '', ARGV[6] == '1')
if other then return {0, other.holder, other.since or ''} end
return {1, ARGV[1], since}
