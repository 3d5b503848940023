--[[ complete: record the results of a batch of finished jobs, checking ownership first.

KEYS[1]        completed sorted set (score = finish time, ms)
KEYS[2]        events stream
KEYS[3..12]    ready streams for priorities 0..9
ARGV[1]        group name
ARGV[2]        consumer name: only entries this consumer still owns are completed
ARGV[3]        now, ms since the epoch
ARGV[4]        keep_completed: how many completed jobs to keep (0 = delete at once)
ARGV[5]        job key prefix; ARGV[6] logs key prefix
ARGV[7]        events stream cap (approximate MAXLEN)
ARGV[8]        n, the number of jobs
ARGV[9 + 4k..] per job: id, priority, entry id, result (JSON)
Returns        {0, s1, ..., sn}: si = 1 completed, 0 LEASE_LOST (another worker reclaimed
               the job, or it was removed): nothing changed for that job
XACK does not check who owns an entry, so ownership is checked with XPENDING first. ]]
-- @include trim_finished
local group, consumer = ARGV[1], ARGV[2]
local now, keep = tonumber(ARGV[3]), tonumber(ARGV[4])
local job_prefix, logs_prefix = ARGV[5], ARGV[6]
local events_cap = tonumber(ARGV[7])
local n = tonumber(ARGV[8])

local reply = {0}
for k = 0, n - 1 do
  local b = 9 + 4 * k
  local id, stream, entry = ARGV[b], KEYS[3 + tonumber(ARGV[b + 1])], ARGV[b + 2]
  local key = job_prefix .. id
  local owner = redis.call('XPENDING', stream, group, entry, entry, 1)
  -- the job must still exist under this entry (not lost, nor re-enqueued under a new one)
  if owner[1] and owner[1][2] == consumer and redis.call('HGET', key, 'entry') == entry then
    redis.call('XACK', stream, group, entry)
    redis.call('XDEL', stream, entry)
    if keep > 0 then
      redis.call('HSET', key, 'state', 'completed', 'result', ARGV[b + 3], 'end', now)
      redis.call('HDEL', key, 'entry')
      redis.call('ZADD', KEYS[1], now, id)
    else
      redis.call('DEL', key, logs_prefix .. id)
    end
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', events_cap, '*', 'ev', 'completed', 'id', id)
    reply[k + 2] = 1
  else
    reply[k + 2] = 0
  end
end

if keep > 0 then
  trim_finished(KEYS[1], keep, job_prefix, logs_prefix)
end
return reply
