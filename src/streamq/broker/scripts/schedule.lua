--[[ schedule: create or update one schedule's definition and its pending tick.

KEYS[1]   schedules hash (schedule key -> JSON definition)
KEYS[2]   ticks sorted set (schedule key -> its pending tick, ms; +inf while paused)
ARGV[1]   schedule key
ARGV[2]   definition (canonical JSON)
ARGV[3]   next tick, ms since the epoch, for a new schedule or a changed timing (-1 = never)
ARGV[4]   the definition the caller read before deciding ARGV[5] ("" = none): compare-and-set
ARGV[5]   1 = the timing (cron, every, tz) is unchanged: keep the pending tick
ARGV[6]   1 = pause it (it is moving here from a tier where it was paused)
Returns   {0, created}: created = 1 for a new schedule, 0 for an update
          {5, current}: STALE, the definition changed since the caller read it (current is
          the definition now, "" if none); nothing written, read again and retry
Keeping the pending tick matters: every process may call app.schedule() at start-up, and a
tick due but not yet fired must not be lost to a recomputation. A paused schedule stays
paused (tick +inf); resuming computes a fresh tick. ]]
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current or '') ~= ARGV[4] then
  return {5, current or ''}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
local next_tick = tonumber(ARGV[3])
if score == 'inf' or score == '+inf' then
  -- paused: stays paused
elseif ARGV[6] == '1' then
  redis.call('ZADD', KEYS[2], '+inf', ARGV[1])
elseif ARGV[5] == '1' and score then
  -- same timing: the pending tick stays
elseif next_tick < 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], next_tick, ARGV[1])
end
if current then
  return {0, 0}
end
return {0, 1}
