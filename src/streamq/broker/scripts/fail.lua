--[[ fail: end one attempt that raised, timed out or asked to retry; checks ownership first
(lib/owns_run).

KEYS[1]        delayed sorted set (score = due time, ms)
KEYS[2]        failed sorted set (score = failure time, ms): the dead-letter queue
KEYS[3]        events stream
KEYS[4]        the job's ready stream (its priority's)
KEYS[5]        job hash; KEYS[6] the job's log list
ARGV[1]        group name; ARGV[2] consumer name
ARGV[3]        entry id the consumer was given
ARGV[4]        now, ms since the epoch
ARGV[5]        error (one line); ARGV[6] traceback (may be empty)
ARGV[7]        retry delay, ms; -1 = do not retry (Fail raised, or not retryable)
ARGV[8]        keep_failed: how many failed jobs to keep
ARGV[9]        job key prefix; ARGV[10] logs key prefix (for trimming old failures)
ARGV[11]       events stream cap (approximate MAXLEN)
Returns        {0, 1}: DELAYED, retried after the delay (attempts were left)
               {0, 2}: FAILED, now in the dead-letter queue
               {2}: LEASE_LOST, nothing changed ]]
-- @include call_batched
-- @include owns_run
-- @include trim_finished
local group, consumer, entry = ARGV[1], ARGV[2], ARGV[3]
local now, delay, keep = tonumber(ARGV[4]), tonumber(ARGV[7]), tonumber(ARGV[8])
local key = KEYS[5]

if not owns_run(key, entry, consumer) then
  return {2}
end
redis.call('XACK', KEYS[4], group, entry)
redis.call('XDEL', KEYS[4], entry)
redis.call('HDEL', key, 'entry')
redis.call('HSET', key, 'error', ARGV[5], 'tb', ARGV[6])

local f = redis.call('HMGET', key, 'attempt', 'max')
local id = string.sub(key, #ARGV[9] + 1)
if delay >= 0 and tonumber(f[1]) < tonumber(f[2]) then
  redis.call('HSET', key, 'state', 'delayed', 'due', now + delay)
  redis.call('ZADD', KEYS[1], now + delay, id)
  return {0, 1}
end

redis.call('HSET', key, 'state', 'failed', 'end', now)
redis.call('ZADD', KEYS[2], now, id)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', tonumber(ARGV[11]), '*', 'ev', 'failed', 'id', id)
trim_finished(KEYS[2], keep, ARGV[9], ARGV[10], now)
return {0, 2}
