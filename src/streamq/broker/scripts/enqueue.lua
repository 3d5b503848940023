--[[ enqueue: add a batch of jobs to one queue, atomically, deduplicated by job id.

KEYS[1]        delayed sorted set (score = due time, ms)
KEYS[2..11]    ready streams for priorities 0..9
KEYS[12]       index hash (job id -> place, lib/place, of each job held in its entry)
KEYS[13]       meta hash (field "prios": the priorities jobs were created with, lib/priorities)
KEYS[14..]     job hash keys, in job order, of every job but those due now whose id
               streamq made, other than the first job whose id streamq made
ARGV[1]        now, ms since the epoch
ARGV[2]        max_waiting: jobs waiting or delayed allowed after this call (0 = unbounded)
ARGV[3]        group name (only read, for the pending count)
ARGV[4]        r, the number of runs: consecutive jobs alike in all but id and data
ARGV[5]        "1" if this call may be a resend: the first id streamq made is looked up;
               "0" if it is sent for the first time on a connection that resends nothing
               by itself (its key is declared either way)
ARGV[6 + 8k..] per run: its number of jobs, name, priority (0..9), due (ms, 0 = now), max
               attempts, opts (JSON or ""), rate key ("" = none, stored as the job's `rk`),
               "1" if streamq made the ids (random), "0" if the caller gave them
ARGV[6 + 8r..] per job: id, data (JSON)
Returns        {0, c1, ..., cn}: ci = 1 created, 0 already existed (same id, still alive)
               {1, waiting, max_waiting}: QUEUE_FULL, nothing written
A job due now is held in its stream entry alone until it starts (lib/write_job).
Dedup on the id makes a resent call (redis-py retries a timed-out command) harmless. Ids
streamq made are 96 random bits and a call is atomic, so only the first of them is looked
up at first: if it exists, the call is a resend and the first send made all of them (the
other jobs due now need no key at all). If it does not, the call is a first send or a
resend whose first job has finished and been deleted since, while others may still be
running: each of the others is looked up too (their keys, not declared, are the first's
prefix and hash tag and the id). A first send cannot be a resend, so it looks up none of
them (ARGV[5]).
A batch is sent as runs so that what its jobs share is sent and read once.
The index entries of a batch are written with one HSET per 250 jobs.
All checks run before the first write, so a rejected call leaves nothing behind; the first
write grows memory, so an out-of-memory rejection happens before any effect. ]]
-- @include priorities
-- @include queue_full
-- @include place
-- @include write_job
-- @include call_batched
local now_text, now = ARGV[1], tonumber(ARGV[1])
local max_waiting = tonumber(ARGV[2])
local group = ARGV[3]
local runs = tonumber(ARGV[4])
local index, meta = KEYS[12], KEYS[13]
local jobs_base = 4 + 8 * runs  -- job j's id is ARGV[jobs_base + 2j], its data the next

local function exists(key, id)
  return redis.call('EXISTS', key) == 1 or redis.call('HEXISTS', index, id) == 1
end

-- First pass, nothing written: which jobs are new, and the hash key of each delayed one.
local fresh, seen, delayed_key, adding = {}, {}, {}, 0
local look_up = ARGV[5] == '1'
local made_fresh  -- whether the ids streamq made are new (nil: none of them met yet)
local made_prefix  -- set when each id streamq made is looked up: their hash keys' prefix
local next_key, j = 14, 0
for run = 0, runs - 1 do
  local shape = 6 + 8 * run
  local made, due_now = ARGV[shape + 7] == '1', tonumber(ARGV[shape + 3]) <= now
  for _ = 1, tonumber(ARGV[shape]) do
    j = j + 1
    local key, is_new
    if not made or not due_now or made_fresh == nil then
      key, next_key = KEYS[next_key], next_key + 1
    end
    if made then
      local id = ARGV[jobs_base + 2 * j]
      if made_fresh == nil then
        made_fresh = not look_up or not exists(key, id)
        if look_up and made_fresh then made_prefix = string.sub(key, 1, #key - #id) end
        is_new = made_fresh
      elseif made_prefix then
        is_new = not exists(key or made_prefix .. id, id)
      else
        is_new = made_fresh
      end
    elseif seen[key] then
      is_new = false
    else
      is_new = not exists(key, ARGV[jobs_base + 2 * j])
      seen[key] = true
    end
    if is_new then
      fresh[j] = true
      adding = adding + 1
      if not due_now then delayed_key[j] = key end
    end
  end
end

if adding > 0 then
  local priorities = {}
  for run = 0, runs - 1 do priorities[run + 1] = ARGV[8 + 8 * run] end
  local waiting = admit(meta, KEYS[1], 2, group, priorities, adding, max_waiting)
  if waiting then return {1, waiting, max_waiting} end
end

local reply, held = {0}, {}
j = 0
for run = 0, runs - 1 do
  local shape = 6 + 8 * run
  local name, prio, due = ARGV[shape + 1], tonumber(ARGV[shape + 2]), tonumber(ARGV[shape + 3])
  local max, opts, rk = ARGV[shape + 4], ARGV[shape + 5], ARGV[shape + 6]
  local stream = KEYS[2 + prio]
  for _ = 1, tonumber(ARGV[shape]) do
    j = j + 1
    if fresh[j] then
      local id, data = ARGV[jobs_base + 2 * j], ARGV[jobs_base + 2 * j + 1]
      if due <= now then
        held[#held + 1] = id
        held[#held + 1] = hold_job(stream, now_text, id, name, data, prio, max, opts, rk)
      else
        delay_job(delayed_key[j], KEYS[1], now_text, id, name, data, prio, due, max, opts, rk)
      end
      reply[j + 1] = 1
    else
      reply[j + 1] = 0
    end
  end
end
call_batched('HSET', {index}, held)
return reply
