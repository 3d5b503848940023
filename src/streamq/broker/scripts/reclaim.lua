--[[ reclaim: take back jobs whose worker stopped renewing its lease (it died, or its event
loop was blocked for longer than the lease), and requeue or fail them.

KEYS[1]        failed sorted set (the dead-letter queue)
KEYS[2]        events stream
KEYS[3..12]    ready streams for priorities 0..9
KEYS[13]       index hash (job id -> place, lib/place, of each job held in its entry)
ARGV[1]        group name
ARGV[2]        reclaimer consumer name (entries pass through it while being requeued)
ARGV[3]        now, ms since the epoch
ARGV[4]        lease, ms: entries idle for longer than this are stalled
ARGV[5]        count: XAUTOCLAIM COUNT per stream
ARGV[6]        job key prefix; ARGV[7] logs key prefix
ARGV[8]        keep_failed; ARGV[9] events stream cap
ARGV[10..19]   XAUTOCLAIM cursor per stream ("0-0" to start)
Returns        {0, requeued, failed, cursor0, ..., cursor9, id1, id2, ...}
               (the ids are the jobs that stalled)
A stall counts as an attempt (the attempt was counted when the job was claimed): a job out
of attempts goes to the dead-letter queue instead of running again, so a job that kills its
worker every time cannot crash-loop the fleet. An entry delivered by a blocking read but
never started (for a job held in its entry: one the index still names) is requeued without
counting an attempt. ]]
-- @include place
-- @include inline
-- @include call_batched
-- @include trim_finished
local group, reclaimer = ARGV[1], ARGV[2]
local now, lease, count = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local job_prefix, logs_prefix = ARGV[6], ARGV[7]
local keep, events_cap = tonumber(ARGV[8]), tonumber(ARGV[9])

local requeued, failed, cursors, stalled = 0, 0, {}, {}

local function dead_letter(key, id, attempt)
  redis.call('HSET', key, 'state', 'failed', 'end', now, 'error',
    'stalled: the worker running it stopped renewing its lease (' .. attempt ..
    ' attempts used); it died or blocked its event loop', 'tb', '')
  redis.call('HDEL', key, 'entry')
  redis.call('ZADD', KEYS[1], now, id)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', events_cap, '*', 'ev', 'failed', 'id', id)
  failed = failed + 1
end

-- a job with a hash: requeued, or dead-lettered if its stall used its last attempt
local function requeue_or_fail(stream, entry, id)
  local key = job_prefix .. id
  local f = redis.call('HMGET', key, 'state', 'attempt', 'max', 'entry')
  if f[4] ~= entry then
    return  -- not the job's current entry (job gone, or re-enqueued): stale, dropped
  end
  if f[1] == 'active' and tonumber(f[2]) >= tonumber(f[3]) then
    dead_letter(key, id, f[2])
    stalled[#stalled + 1] = id
  elseif f[1] == 'active' or f[1] == 'waiting' then
    if f[1] == 'active' then stalled[#stalled + 1] = id end
    local fresh = redis.call('XADD', stream, '*', 'id', id)
    redis.call('HSET', key, 'state', 'waiting', 'entry', fresh)
    redis.call('HDEL', key, 'start', 'worker')
    requeued = requeued + 1
  end
end

for p = 0, 9 do
  local stream = KEYS[3 + p]
  local r = redis.call('XAUTOCLAIM', stream, group, reclaimer, lease, ARGV[10 + p],
    'COUNT', count)
  cursors[p + 1] = r[1]
  for _, e in ipairs(r[2]) do
    local entry, fields = e[1], e[2]
    redis.call('XACK', stream, group, entry)
    redis.call('XDEL', stream, entry)
    if type(fields) == 'table' and fields[2] then
      local job = inline_job(fields)
      if job and inline_current(KEYS[13], job, p, entry) then
        inline_requeue(KEYS[13], stream, p, job)
        requeued = requeued + 1
      else
        requeue_or_fail(stream, entry, fields[2])
      end
    end
  end
end

if failed > 0 then
  trim_finished(KEYS[1], keep, job_prefix, logs_prefix, now)
end

local reply = {0, requeued, failed}
for p = 1, 10 do reply[#reply + 1] = cursors[p] end
for _, id in ipairs(stalled) do reply[#reply + 1] = id end
return reply
