-- GCRA for several rules of one caller, decided or settled atomically.
--
-- Go puts a line before this text that defines, for each rule, Q, the
-- denominator of its emission interval, and TAU_US and TAU_FRAC, its
-- tolerance (burst times the interval) as whole microseconds plus
-- TAU_FRAC/Q. It also defines ARGS and REPLY, the struct formats of the
-- argument and of the reply. Each set of rules has its own script, so a
-- call passes only what changes from call to call.
--
-- KEYS[i] contains rule i's theoretical arrival time (TAT) for the caller:
-- US + FRAC/Q[i] microseconds since the Unix epoch.
--
-- ARGV[1] contains the doubles MODE, NOW, then UNITS_US and UNITS_FRAC for each
-- rule. MODE is 0 to decide and spend, 1 to charge units past any limit, 2
-- to refund units but never past the full burst. NOW is the time in
-- microseconds, or 0 to read the server's clock. Rule i's units are a span
-- of whole microseconds and a fraction over Q[i]; UNITS_US is -1 for units
-- that rule i can never admit.
--
-- The reply contains the doubles ADMITTED, then US and FRAC for each rule:
-- ADMITTED is 0 when a rule rejected the units, so that no key changed, and
-- 1 otherwise. US and FRAC are the rule's TAT - now before the call.
--
-- Keys, the argument and the reply are big-endian IEEE 754 doubles, so
-- neither side formats or parses decimals: that costs four times as much as
-- struct.pack and struct.unpack. Every value stays below 2^53, which a
-- double holds exactly: spans are capped at MAX, fractions are below
-- Q[i] < 2^52, and a TAT is at most MAX after the current time.
--
-- The script has no helper functions, because it would define them anew on
-- every call, which costs more than the repeated lines. It needs Redis 5 or
-- later, which replicates a script's effects rather than the script, so a
-- write may follow TIME.

local pack, unpack_struct, floor, call = struct.pack, struct.unpack, math.floor, redis.call

local MAX = 4503599627370496 -- 2^52 microseconds, about 142 years

local args = {unpack_struct(ARGS, ARGV[1])}
local mode, now = args[1], args[2]
if now == 0 then
  local t = call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- All of one caller's keys share a hash slot, so one MGET reads them.
local n = #KEYS
local values = call('MGET', unpack(KEYS))

-- Each rule's offset TAT - now, as whole microseconds in reply[2i] and a
-- fraction over Q[i] in reply[2i + 1]: zero for a key at its full burst.
-- A value that this script did not write counts as no state.
local reply = {1}
for i = 1, n do
  local v, us, f = values[i], 0, 0
  if v and #v == 16 then
    us, f = unpack_struct('>dd', v)
    if us < now then
      us, f = 0, 0
    else
      if f >= Q[i] then
        -- The rule's rate changed since the write: round up.
        us, f = us + 1, 0
      end
      us = us - now
      if us >= MAX then
        us, f = MAX, 0
      end
    end
  end
  reply[2 * i], reply[2 * i + 1] = us, f
end

-- values now keeps each rule's offset after the call: whole microseconds at
-- i and the fraction at n + i.
if mode == 0 then
  -- Every rule must admit its units before any key changes. A sum
  -- saturates at MAX.
  for i = 1, n do
    local q, dus = Q[i], args[1 + 2 * i]
    if dus < 0 then
      reply[1] = 0
      return pack(REPLY, unpack(reply))
    end
    local us, f = reply[2 * i] + dus, reply[2 * i + 1] + args[2 + 2 * i]
    if f >= q then
      us, f = us + 1, f - q
    end
    if us >= MAX then
      us, f = MAX, 0
    end
    if us > TAU_US[i] or (us == TAU_US[i] and f > TAU_FRAC[i]) then
      reply[1] = 0
      return pack(REPLY, unpack(reply))
    end
    values[i], values[n + i] = us, f
  end
elseif mode == 1 then
  -- A charge goes past the burst, up to MAX.
  for i = 1, n do
    local q = Q[i]
    local us, f = reply[2 * i] + args[1 + 2 * i], reply[2 * i + 1] + args[2 + 2 * i]
    if f >= q then
      us, f = us + 1, f - q
    end
    if us >= MAX then
      us, f = MAX, 0
    end
    values[i], values[n + i] = us, f
  end
else
  -- A refund stops at zero, the full burst.
  for i = 1, n do
    local us, f = reply[2 * i], reply[2 * i + 1]
    local dus, df = args[1 + 2 * i], args[2 + 2 * i]
    if us < dus or (us == dus and f <= df) then
      us, f = 0, 0
    else
      us, f = us - dus, f - df
      if f < 0 then
        us, f = us - 1, f + Q[i]
      end
    end
    values[i], values[n + i] = us, f
  end
end

-- Write each changed offset with a TTL of that offset in milliseconds,
-- rounded up: the key expires once it is back to its full burst, when no
-- state means the same as its state. A zero offset deletes the key. The TTL
-- has at most 13 digits, which Redis writes exactly from a Lua number.
for i = 1, n do
  local us, f = values[i], values[n + i]
  if us ~= reply[2 * i] or f ~= reply[2 * i + 1] then
    if us == 0 and f == 0 then
      call('DEL', KEYS[i])
    elseif f == 0 then
      call('SET', KEYS[i], pack('>dd', now + us, 0), 'PX', floor((us + 999) / 1000))
    else
      call('SET', KEYS[i], pack('>dd', now + us, f), 'PX', floor((us + 1000) / 1000))
    end
  end
end
return pack(REPLY, unpack(reply))
