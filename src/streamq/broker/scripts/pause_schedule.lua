--[[ pause_schedule: pause a schedule (its pending tick becomes +inf, so it never comes due)
or resume it (a fresh tick, computed by the caller from now).

KEYS[1]   schedules hash (schedule key -> JSON definition)
KEYS[2]   ticks sorted set (schedule key -> pending tick, ms; +inf while paused)
ARGV[1]   schedule key
ARGV[2]   1 = pause, 0 = resume
ARGV[3]   resume only: the next tick, ms since the epoch (-1 = never)
Returns   {0, changed}: changed = 1 if the state changed, 0 if it already was so
          {3}: NOT_FOUND, no schedule with this key
Ticks that came due while paused are not run: resuming starts from the next tick. ]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return {3}
end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
local paused = score == 'inf' or score == '+inf'
if ARGV[2] == '1' then
  if paused then
    return {0, 0}
  end
  redis.call('ZADD', KEYS[2], 'inf', ARGV[1])
  return {0, 1}
end
if not paused then
  return {0, 0}
end
local next_tick = tonumber(ARGV[3])
if next_tick < 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], next_tick, ARGV[1])
end
return {0, 1}
