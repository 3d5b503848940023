--[[ retry: put a FAILED job (dead letter) back in its queue with fresh attempts.

KEYS[1]        failed sorted set
KEYS[2]        job hash
KEYS[3..12]    ready streams for priorities 0..9
KEYS[13]       index hash (jobs held in their entry are WAITING)
ARGV[1]        job id
ARGV[2]        this call's token ("" if its connection never resends a command): kept in the
               job's `op` field, so a resend of the call (its reply was lost, and redis-py's
               cluster client sent it again) answers {0} and does nothing, even if the job
               has run and failed again since
Returns        {0}: requeued
               {3}: JOB_NOT_FOUND
               {4, state}: WRONG_STATE, the job is not failed
The last error and traceback stay on the job, also once it completes, until an attempt fails
again (docs/retries.md). ]]
local key, id, op = KEYS[2], ARGV[1], ARGV[2]
local f = redis.call('HMGET', key, 'state', 'prio', 'op')
if not f[1] then
  if redis.call('HEXISTS', KEYS[13], id) == 1 then return {4, 'waiting'} end
  return {3}
end
if op ~= '' and f[3] == op then return {0} end
if f[1] ~= 'failed' then return {4, f[1]} end
local entry = redis.call('XADD', KEYS[3 + tonumber(f[2])], '*', 'id', id)
redis.call('HSET', key, 'state', 'waiting', 'entry', entry, 'attempt', 0)
if op ~= '' then redis.call('HSET', key, 'op', op) end
redis.call('HDEL', key, 'end', 'start', 'worker')
redis.call('ZREM', KEYS[1], id)
return {0}
