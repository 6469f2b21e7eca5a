-- Checkpoints of a thread, newest first, with what rebuilds them, in one call.
-- KEYS: 1 ck:cp, 2 ck:idx, 3 ck:blobs, 4 ck:w, 5 ck:widx, 6 msgs (the session's message log)
-- ARGV: 1 max, 2 min (ZREVRANGEBYLEX bounds), 3 limit, 4 with blobs "1"|"0", 5 with log "1"|"0",
--       6 known: "<base> <ls> <le>" of a messages value the caller holds, or "",
--       7 the log entry at le - 1 of that value (proves the log is the one it read)
-- Returns {{member, record, blob values, write fields, write values}..., log_start, log, reused}.
-- log covers every returned record's slice. With one record whose value extends the known
-- one (same base and start, entry le - 1 unchanged), log starts at the known le, the base
-- blob is not sent and reused is 1: the caller appends the new entries to what it holds.
local members = redis.call('ZREVRANGEBYLEX', KEYS[2], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local kb, kls, kle = nil, nil, nil
if ARGV[6] ~= '' and #members == 1 then
  local k = {}
  for tok in string.gmatch(ARGV[6], '%S+') do k[#k + 1] = tok end
  kb, kls, kle = k[1], tonumber(k[2]), tonumber(k[3])
end
local out = {}
local lo, hi, reused = -1, -1, 0
for _, m in ipairs(members) do
  local rec = redis.call('HGET', KEYS[1], m)
  if rec then
    local t = {}
    for tok in string.gmatch(string.sub(rec, 1, string.find(rec, '\n', 1, true) - 1), '%S+') do
      t[#t + 1] = tok
    end
    local ls, le = tonumber(t[1]), tonumber(t[2])
    if kb and t[4] == kb and ls == kls and le >= kle
        and (kle == kls or redis.call('LINDEX', KEYS[6], kle - 1) == ARGV[7]) then
      reused, ls = 1, kle
    end
    local vals = {}
    if ARGV[4] == '1' then
      local fields = {}
      if t[4] ~= '-' and reused == 0 then fields[#fields + 1] = t[4] end
      for j = 6, #t do fields[#fields + 1] = t[j] end
      if #fields > 0 then vals = redis.call('HMGET', KEYS[3], unpack(fields)) end
    end
    local wf = redis.call('ZRANGEBYLEX', KEYS[5], '[' .. m .. '|', '[' .. m .. '|\255')
    local wv = {}
    if #wf > 0 then wv = redis.call('HMGET', KEYS[4], unpack(wf)) end
    out[#out + 1] = {m, rec, vals, wf, wv}
    if le > ls then
      if lo < 0 or ls < lo then lo = ls end
      if le > hi then hi = le end
    end
  end
end
local log = {}
if ARGV[5] == '1' and lo >= 0 then log = redis.call('LRANGE', KEYS[6], lo, hi - 1) end
return {out, lo, log, reused}
