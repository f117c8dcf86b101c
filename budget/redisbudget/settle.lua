-- Settles a reservation under every budget of one caller, and fires the
-- alert thresholds that the new spend reached.
--
-- KEYS[i] is the hash of budget i for the caller, as in reserve.lua.
--
-- ARGV[1] is the number of budgets n; then, per budget:
--   MODE      'c' for a calendar window, 'r' for a rolling one
--   RESERVED  the amount that was reserved
--   USED      the amount the call used
--   BUCKET    the ID of the reservation's bucket (rolling only)
--   FROM      the ID of the oldest bucket that counts now (rolling only)
--   TTL       milliseconds the key must live after this write
--   T         the number of thresholds, followed by T pairs of the
--             threshold's percentage and the spend at which it fires
--
-- Reply: per budget, the spend in its window after the settlement, the
-- number k of thresholds that fired, and their k percentages.
--
-- A threshold that fired is a field fP (P its percentage) of the key, set
-- once. In a calendar window it stays until the window's key expires; in a
-- rolling window it is deleted when the spend falls below it again.

local n = tonumber(ARGV[1])
local call = redis.call
local reply = {}
local a = 2
for i = 1, n do
  local key = KEYS[i]
  local mode, reserved, used, bucket, from, ttl = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), ARGV[a + 3], tonumber(ARGV[a + 4]), ARGV[a + 5]
  local t = tonumber(ARGV[a + 6])
  local thresholds = a + 7
  a = thresholds + 2 * t

  -- Move the amount from reserved to spent.
  local rfield, sfield = 'r', 's'
  if mode == 'r' then
    rfield, sfield = 'r:' .. bucket, 's:' .. bucket
  end
  if reserved > 0 and call('HINCRBY', key, rfield, -reserved) <= 0 then
    call('HDEL', key, rfield)
  end
  if used > 0 then
    call('HINCRBY', key, sfield, used)
  end
  call('PEXPIRE', key, ttl)

  -- The spend that thresholds compare with.
  local level = 0
  if mode == 'c' then
    level = tonumber(call('HGET', key, 's')) or 0
  else
    local fields = call('HGETALL', key)
    for j = 1, #fields, 2 do
      local f = fields[j]
      if string.sub(f, 1, 2) == 's:' and tonumber(string.sub(f, 3)) >= from then
        level = level + tonumber(fields[j + 1])
      end
    end
  end

  local fired = {}
  for j = 0, t - 1 do
    local pct, at = ARGV[thresholds + 2 * j], tonumber(ARGV[thresholds + 2 * j + 1])
    if level >= at then
      if call('HSETNX', key, 'f' .. pct, 1) == 1 then
        fired[#fired + 1] = tonumber(pct)
      end
    elseif mode == 'r' then
      call('HDEL', key, 'f' .. pct)
    end
  end
  reply[#reply + 1] = level
  reply[#reply + 1] = #fired
  for _, pct in ipairs(fired) do
    reply[#reply + 1] = pct
  end
end
return reply
