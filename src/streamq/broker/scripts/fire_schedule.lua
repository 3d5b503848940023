--[[ fire_schedule: enqueue the job of one schedule tick and move the schedule to its next
tick, only if the schedule's pending tick is still the one the caller read (compare-and-set).
That makes each tick fire exactly once however many workers try at the same moment.

KEYS[1]        schedules hash (schedule key -> JSON definition)
KEYS[2]        ticks sorted set (schedule key -> pending tick, ms; +inf while paused)
KEYS[3]        delayed sorted set (score = due time, ms)
KEYS[4..13]    ready streams for priorities 0..9
KEYS[14]       the job's hash (job id "sched:<key>:<tick ms>")
KEYS[15]       index hash (job id -> place, lib/place, of each job held in its entry)
KEYS[16]       meta hash (field "prios": the priorities jobs were created with, lib/priorities)
ARGV[1]        now, ms since the epoch
ARGV[2]        schedule key
ARGV[3]        expected pending tick, ms (what the caller read from KEYS[2])
ARGV[4]        next tick, ms (-1 = never again: the key leaves KEYS[2])
ARGV[5]        1 = enqueue the job, 0 = only move the tick (missed ticks skipped)
ARGV[6]        max_waiting: jobs waiting or delayed allowed after this call (0 = unbounded)
ARGV[7]        group name (only read, for the pending count)
ARGV[8..14]    the job: id, name, data (JSON), priority (0..9), due (ms; jitter makes it
               later than now: delayed), max attempts, opts (JSON or "")
ARGV[15]       the job's rate key ("" = none), stored as the job's `rk` like enqueue does
Returns        {0, created}: fired; created = 0 if the job id already existed (a replayed
               fire: nothing new enqueued, the tick still moves)
               {5, current}: STALE, the pending tick is not the expected one (fired by
               another worker, or the schedule was updated, paused or deleted); nothing
               written. current = the pending tick now ("" if none)
               {1, waiting, max_waiting}: QUEUE_FULL, nothing written; try again later
The job is written by the same write_job as enqueue's. ]]
-- @include priorities
-- @include queue_full
-- @include place
-- @include write_job
local key = ARGV[2]
local score = redis.call('ZSCORE', KEYS[2], key)
if not score or tonumber(score) ~= tonumber(ARGV[3]) or redis.call('HEXISTS', KEYS[1], key) == 0 then
  return {5, score or ''}
end

local job_key = KEYS[14]
local fresh = ARGV[5] == '1' and redis.call('EXISTS', job_key) == 0
  and redis.call('HEXISTS', KEYS[15], ARGV[8]) == 0
local max_waiting = tonumber(ARGV[6])
if fresh then
  local waiting = admit(KEYS[16], KEYS[3], 4, ARGV[7], {ARGV[11]}, 1, max_waiting)
  if waiting then return {1, waiting, max_waiting} end
end

if fresh then
  local prio = tonumber(ARGV[11])
  local held = write_job(job_key, KEYS[3], KEYS[4 + prio], ARGV[1], ARGV[8], ARGV[9], ARGV[10],
    prio, tonumber(ARGV[12]), ARGV[13], ARGV[14], ARGV[15])
  if held then redis.call('HSET', KEYS[15], ARGV[8], held) end
end

local next_tick = tonumber(ARGV[4])
if next_tick < 0 then
  redis.call('ZREM', KEYS[2], key)
else
  redis.call('ZADD', KEYS[2], next_tick, key)
end
if fresh then
  return {0, 1}
end
return {0, 0}
