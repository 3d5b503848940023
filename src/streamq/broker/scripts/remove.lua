--[[ remove: delete one job in any state, with its log.

KEYS[1]        delayed sorted set; KEYS[2] completed sorted set; KEYS[3] failed sorted set
KEYS[4]        job hash; KEYS[5] the job's log list
KEYS[6..15]    ready streams for priorities 0..9
KEYS[16]       events stream (a "removed" event wakes Job.result waiters)
KEYS[17]       index hash (job id -> place, lib/place, of each job held in its entry)
ARGV[1]        group name; ARGV[2] job id; ARGV[3] events stream cap (approximate MAXLEN)
Returns        {0, state}: removed, it was in `state`
               {3}: JOB_NOT_FOUND
Removing an ACTIVE job takes its entry out of the pending list: the worker running it
finds its lease lost and discards the outcome. ]]
-- @include place
local key, id = KEYS[4], ARGV[2]
local f = redis.call('HMGET', key, 'state', 'prio', 'entry')
if not f[1] then
  local held = redis.call('HGET', KEYS[17], id)
  if not held then return {3} end
  local prio, entry = unplace(held)
  f = {'waiting', prio, entry}
  redis.call('HDEL', KEYS[17], id)
end
if f[3] then
  local stream = KEYS[6 + tonumber(f[2])]
  redis.call('XACK', stream, ARGV[1], f[3])
  redis.call('XDEL', stream, f[3])
end
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('DEL', key, KEYS[5])
redis.call('XADD', KEYS[16], 'MAXLEN', '~', tonumber(ARGV[3]), '*', 'ev', 'removed', 'id', id)
return {0, f[1]}
