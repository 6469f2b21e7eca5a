-- The lease rule, shared by the scripts that take a lease (prepended to them at load time).
-- A lease is "<expires_ms>|<holder>[|<extra>[|<since_ms>]]", judged by the caller's now: a
-- holder other than the caller with an unexpired lease keeps it unless forced; the caller's
-- own unbroken hold keeps the time it began.
local function parse_lease(v)
  if not v then return nil end
  local f = {}
  for part in string.gmatch(v .. '|', '([^|]*)|') do f[#f + 1] = part end
  return {exp = tonumber(f[1]) or 0, holder = f[2] or '', since = f[4]}
end

-- Returns (other, since): the other holder's lease when it is held, else nil and the since
-- now stored.
local function take_lease(key, holder, now, expires, px, extra, since, force)
  local cur = parse_lease(redis.call('GET', key))
  if cur and cur.holder ~= holder and cur.exp > now and not force then return cur, nil end
  if cur and cur.holder == holder and cur.exp > now and cur.since and since ~= '' then
    since = cur.since
  end
  local value = expires .. '|' .. holder
  if extra ~= '' or since ~= '' then value = value .. '|' .. extra end
  if since ~= '' then value = value .. '|' .. since end
  redis.call('SET', key, value, 'PX', px)
  return nil, since
end
