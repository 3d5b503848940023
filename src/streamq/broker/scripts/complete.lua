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
Ownership is checked first, on each job's record (lib/owns_run: one HMGET a job). The
batch's acks, deletions (lib/release_entries) and retention are a few calls per
stream (call_batched), not one per job, and the batch is one event: ev = completed, ids =
JSON array of the job ids. Numbers reach redis.call as the strings they came in
(redis.call formats a Lua number with printf). ]]
-- @include call_batched
-- @include owns_run
-- @include place
-- @include release_entries
-- @include trim_finished
local group, consumer = ARGV[1], ARGV[2]
local now, keep = ARGV[3], tonumber(ARGV[4])
local job_prefix, logs_prefix = ARGV[5], ARGV[6]
local events_cap = ARGV[7]
local n = tonumber(ARGV[8])

-- per priority (keyed by its text: tonumber costs a strtod a job): its entries to release,
-- and the entries seen (streams share entry ids)
local by_prio = {}

-- Which jobs complete: reads only. Then the acks, which do not grow memory: on a full Redis
-- (maxmemory, noeviction) a script whose first write is one of them is let through, so
-- workers keep draining; the writes after it then run to the end, never half-applied.
local reply, finishing = {0}, {}
for k = 0, n - 1 do
  local b = 9 + 4 * k
  local id, prio, entry = ARGV[b], ARGV[b + 1], ARGV[b + 2]
  local batch = by_prio[prio]
  if not batch then
    batch = {done = {}, seen = {}}
    by_prio[prio] = batch
  end
  -- the same entry twice in one batch completes once
  if owns_run(job_prefix .. id, entry, consumer) and not batch.seen[entry] then
    batch.seen[entry] = true
    batch.done[#batch.done + 1] = entry
    finishing[#finishing + 1] = b
    reply[k + 2] = 1
  else
    reply[k + 2] = 0
  end
end

for prio, batch in pairs(by_prio) do
  if #batch.done > 0 then
    release_entries(KEYS[3 + prio], group, batch.done)
  end
end

local completed, ids = {}, {}
for _, b in ipairs(finishing) do
  local id = ARGV[b]
  local key = job_prefix .. id
  if keep > 0 then
    -- `entry` stays: an inert id (the entry is gone), one redis.call a job less
    redis.call('HSET', key, 'state', 'completed', 'result', ARGV[b + 3], 'end', now)
    completed[#completed + 1] = now
    completed[#completed + 1] = id
  else
    redis.call('DEL', key, logs_prefix .. id)
  end
  ids[#ids + 1] = id
end
if #ids > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', events_cap, '*', 'ev', 'completed',
    'ids', cjson.encode(ids))
end

if #completed > 0 then
  call_batched('ZADD', {KEYS[1]}, completed)
  -- never this batch's own jobs: their results are what Job.result() waiters are told of
  trim_finished(KEYS[1], keep, job_prefix, logs_prefix, now)
end
return reply
