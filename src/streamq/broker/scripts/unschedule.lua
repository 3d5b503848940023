--[[ unschedule: delete one schedule (its definition and its pending tick).

KEYS[1]   schedules hash (schedule key -> JSON definition)
KEYS[2]   ticks sorted set (schedule key -> pending tick, ms)
ARGV[1]   schedule key
Returns   {0}: deleted
          {3}: NOT_FOUND, no schedule with this key
Jobs already enqueued by the schedule are left alone. ]]
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if removed == 0 then
  return {3}
end
return {0}
