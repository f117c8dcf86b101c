-- Returns what one caller spent and reserved under each budget.
--
-- KEYS[i] is the hash of budget i for the caller, as in reserve.lua.
-- ARGV[1] is the number of budgets n; then, per budget, MODE ('c' or 'r')
-- and FROM, the ID of the oldest rolling bucket that counts.
--
-- Reply: spent and reserved for each budget. The script only reads, so it
-- may run on a replica.

local n = tonumber(ARGV[1])
local reply = {}
for i = 1, n do
  local mode, from = ARGV[2 * i], tonumber(ARGV[2 * i + 1])
  local spent, reserved = 0, 0
  if mode == 'c' then
    local v = redis.call('HMGET', KEYS[i], 's', 'r')
    spent, reserved = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  else
    local fields = redis.call('HGETALL', KEYS[i])
    for j = 1, #fields, 2 do
      local f = fields[j]
      local kind = string.sub(f, 1, 2)
      if (kind == 's:' or kind == 'r:') and tonumber(string.sub(f, 3)) >= from then
        if kind == 's:' then
          spent = spent + tonumber(fields[j + 1])
        else
          reserved = reserved + tonumber(fields[j + 1])
        end
      end
    end
  end
  reply[2 * i - 1] = spent
  reply[2 * i] = reserved
end
return reply
