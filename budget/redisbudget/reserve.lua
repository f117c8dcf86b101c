-- Reserves an estimate under every budget of one caller, or under none.
--
-- KEYS[i] is the hash of budget i for the caller. A calendar window has a
-- key of its own with the fields s (spent) and r (reserved). A rolling
-- window has one key whose fields s:ID and r:ID hold each bucket's spent
-- and reserved amounts, ID being the bucket's start in Unix milliseconds.
--
-- ARGV[1] is the number of budgets n; then six values per budget:
--   MODE    'c' for a calendar window, 'r' for a rolling one
--   LIMIT   the budget's limit
--   AMOUNT  the estimate to reserve, at least 0
--   BUCKET  the current bucket's ID (rolling only)
--   FROM    the ID of the oldest bucket that counts (rolling only)
--   TTL     milliseconds the key must live after this write
--
-- Reply: {1, remaining_1, ..., remaining_n} when every estimate fit and
-- was reserved, or {0, i, spent, reserved, retry} for the first budget i
-- (counted from 0) that it did not fit, where retry is the ID of the
-- rolling bucket whose expiry makes room, or -1.
--
-- Limits are below 2^53 and amounts at most 2^53 (the Go side checks), so
-- Lua's numbers hold them exactly. Rolling buckets older than FROM are deleted on the way.

local n = tonumber(ARGV[1])
local call = redis.call

-- totals returns what is spent and reserved in budget i's window.
local function totals(key, mode, from)
  if mode == 'c' then
    local v = call('HMGET', key, 's', 'r')
    return tonumber(v[1]) or 0, tonumber(v[2]) or 0
  end
  local spent, reserved = 0, 0
  local fields = call('HGETALL', key)
  for j = 1, #fields, 2 do
    local f = fields[j]
    local kind = string.sub(f, 1, 2)
    if kind == 's:' or kind == 'r:' then
      if tonumber(string.sub(f, 3)) < from then
        call('HDEL', key, f)
      elseif kind == 's:' then
        spent = spent + tonumber(fields[j + 1])
      else
        reserved = reserved + tonumber(fields[j + 1])
      end
    end
  end
  return spent, reserved
end

-- retry returns the ID of the oldest bucket whose expiry, with the older
-- ones', frees need, or -1.
local function retry(key, from, need)
  local fields = call('HGETALL', key)
  local sums, ids = {}, {}
  for j = 1, #fields, 2 do
    local f = fields[j]
    local kind = string.sub(f, 1, 2)
    if kind == 's:' or kind == 'r:' then
      local id = tonumber(string.sub(f, 3))
      if sums[id] == nil then
        sums[id] = 0
        ids[#ids + 1] = id
      end
      sums[id] = sums[id] + tonumber(fields[j + 1])
    end
  end
  table.sort(ids)
  local freed = 0
  for _, id in ipairs(ids) do
    freed = freed + sums[id]
    if freed >= need then
      return id
    end
  end
  return -1
end

-- Check every budget first.
local remaining = {1}
for i = 1, n do
  local a = 1 + (i - 1) * 6
  local mode, limit, amount, from = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 5])
  local spent, reserved = totals(KEYS[i], mode, from)
  local used = spent + reserved
  if amount > 0 and (amount > limit or used > limit - amount) then
    local bucket = -1
    if mode == 'r' and amount <= limit then
      bucket = retry(KEYS[i], from, used + amount - limit)
    end
    return {0, i - 1, spent, reserved, bucket}
  end
  remaining[i + 1] = math.max(limit - used - amount, 0)
end

-- Then reserve under each.
for i = 1, n do
  local a = 1 + (i - 1) * 6
  local mode, amount = ARGV[a + 1], ARGV[a + 3]
  if tonumber(amount) > 0 then
    local field = 'r'
    if mode == 'r' then
      field = 'r:' .. ARGV[a + 4]
    end
    call('HINCRBY', KEYS[i], field, amount)
    call('PEXPIRE', KEYS[i], ARGV[a + 6])
  end
end
return remaining
