--[[ enqueue: add a batch of jobs to one queue, atomically, deduplicated by job id.

KEYS[1]        delayed sorted set (score = due time, ms)
KEYS[2..11]    ready streams for priorities 0..9
KEYS[12]       index hash (job id -> place, lib/place, of each job held in its entry)
KEYS[13..]     one job hash per job, in ARGV order
ARGV[1]        now, ms since the epoch
ARGV[2]        max_waiting: jobs waiting or delayed allowed after this call (0 = unbounded)
ARGV[3]        group name (only read, for the pending count)
ARGV[4]        n, the number of jobs
ARGV[5 + 6k..] per job: id, name, data (JSON), priority (0..9), due (ms, 0 = now),
               max attempts; then one more ARGV per job after all jobs: opts (JSON or "");
               then one more per job: rate key ("" = none), stored as the job's `rk`;
               then one more per job: "1" if streamq made the id (random), "0" if the
               caller gave it
Returns        {0, c1, ..., cn}: ci = 1 created, 0 already existed (same id, still alive)
               {1, waiting, max_waiting}: QUEUE_FULL, nothing written
A job due now is held in its stream entry alone until it starts (lib/write_job).
Dedup on the id makes a resent call (redis-py retries a timed-out command) harmless. Ids
streamq made are 96 random bits and a call is atomic, so only the first of them is looked
up: if it exists, the call is a resend and all of them exist (two lookups a job less in a
bulk enqueue). The index entries of a batch are written with one HSET per 250 jobs.
All checks run before the first write, so a rejected call leaves nothing behind; the first
write grows memory, so an out-of-memory rejection happens before any effect. ]]
-- @include waiting_count
-- @include place
-- @include write_job
-- @include call_batched
local max_waiting = tonumber(ARGV[2])
local group = ARGV[3]
local n = tonumber(ARGV[4])
local index = KEYS[12]
local first_job_key = 13
local opts_base = 4 + 6 * n

local made_base = opts_base + 2 * n

local function exists(key, id)
  return redis.call('EXISTS', key) == 1 or redis.call('HEXISTS', index, id) == 1
end

local fresh, seen, adding = {}, {}, 0
local made_fresh  -- whether the first id streamq made is new (nil: none looked up yet)
for i = 1, n do
  local key = KEYS[first_job_key + i - 1]
  local id = ARGV[5 + 6 * (i - 1)]
  local is_new
  if seen[key] then
    is_new = false
  elseif ARGV[made_base + i] == '1' then
    if made_fresh == nil then made_fresh = not exists(key, id) end
    is_new = made_fresh
  else
    is_new = not exists(key, id)
  end
  if is_new then
    fresh[i] = true
    adding = adding + 1
  end
  seen[key] = true
end

if max_waiting > 0 and adding > 0 then
  local waiting = waiting_count(KEYS[1], 2, group)
  if waiting + adding > max_waiting then
    return {1, waiting, max_waiting}
  end
end

local reply, held = {0}, {}
for i = 1, n do
  local b = 5 + 6 * (i - 1)
  if fresh[i] then
    local prio = tonumber(ARGV[b + 3])
    local at = write_job(KEYS[first_job_key + i - 1], KEYS[1], KEYS[2 + prio], ARGV[1],
      ARGV[b], ARGV[b + 1], ARGV[b + 2], prio, tonumber(ARGV[b + 4]), ARGV[b + 5],
      ARGV[opts_base + i], ARGV[opts_base + n + i])
    if at then
      held[#held + 1], held[#held + 2] = ARGV[b], at
    end
    reply[i + 1] = 1
  else
    reply[i + 1] = 0
  end
end
call_batched('HSET', {index}, held)
return reply
