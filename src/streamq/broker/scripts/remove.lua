--[[ remove: delete one job in any state, with its log.

KEYS[1]        delayed sorted set; KEYS[2] completed sorted set; KEYS[3] failed sorted set
KEYS[4]        job hash; KEYS[5] the job's log list
KEYS[6..15]    ready streams for priorities 0..9
KEYS[16]       events stream (a "removed" event wakes Job.result waiters)
KEYS[17]       index hash (job id -> place, lib/place, of each job held in its entry)
KEYS[18]       the job's removal record (a hash: op, state)
KEYS[19]       the tier's rate bucket (a key's bucket is KEYS[19] .. ':' .. key, as in claim)
ARGV[1]        group name; ARGV[2] job id; ARGV[3] events stream cap (approximate MAXLEN)
ARGV[4]        this call's token ("" if its connection never resends a command)
ARGV[5]        how long the removal record is kept, in ms
ARGV[6]        now, ms since the epoch (a deferred job's token goes back before its due time)
Returns        {0, state}: removed, it was in `state`
               {3}: JOB_NOT_FOUND
A call with a token leaves a removal record for ARGV[5] ms, so a resend of the call (its
reply was lost, and redis-py's cluster client sent it again) answers what the first send
did, without touching a job enqueued again with the same id since.
Removing an ACTIVE job takes its entry out of the pending list: the worker running it
finds its lease lost and discards the outcome. A job deferred by its key's rate limit gives
its token back (lib/refund_token). ]]
-- @include place
-- @include refund_token
local key, id, op = KEYS[4], ARGV[2], ARGV[4]
if op ~= '' then
  local done = redis.call('HMGET', KEYS[18], 'op', 'state')
  if done[1] == op then return {0, done[2]} end
end
local f = redis.call('HMGET', key, 'state', 'prio', 'entry', 'rk', 'rsv')
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
local size, due, previous = parse_rsv(f[5])
refund_token(KEYS[19], f[4], size, due, previous, tonumber(ARGV[6]))
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('DEL', key, KEYS[5])
redis.call('XADD', KEYS[16], 'MAXLEN', '~', tonumber(ARGV[3]), '*', 'ev', 'removed', 'id', id)
if op ~= '' then
  redis.call('HSET', KEYS[18], 'op', op, 'state', f[1])
  redis.call('PEXPIRE', KEYS[18], tonumber(ARGV[5]))
end
return {0, f[1]}
