--[[ claim: start up to `count` jobs for one consumer, highest priority (0) first, within the
tier's rate limit and each job's per-key rate limit.

KEYS[1]        meta hash (field "paused")
KEYS[2..11]    ready streams for priorities 0..9
KEYS[12]       delayed sorted set (score = due time, ms): where jobs over their key's limit wait
KEYS[13]       the tier's rate bucket, a hash: t = tokens x per (integer units), ts = time of
               t (ms), q = due time (ms) given to the last job deferred (per-key buckets only).
               A key's bucket is KEYS[13] .. ':' .. key (same hash tag). Buckets expire when
               they would be full again (a missing bucket is a full one).
KEYS[14]       index hash (job id -> place, lib/place, of each job held in its entry)
ARGV[1]        group name
ARGV[2]        consumer name (the worker)
ARGV[3]        now, ms since the epoch
ARGV[4]        count: how many jobs the worker has free slots for
ARGV[5]        job key prefix (the job hash is prefix .. id; same hash tag as KEYS)
ARGV[6..8]     tier rate limit: limit (tokens per window, 0 = none), per (window, ms), burst
               (most tokens held)
ARGV[9..11]    per-key rate limit (for jobs with an `rk` field): limit (0 = none), per (ms),
               burst
ARGV[12]       defer budget: at most this many jobs are moved to DELAYED in one call
ARGV[13]       d: entries already delivered to this consumer by a blocking XREADGROUP
ARGV[14 + 3k..] per delivered entry: priority, entry id, job id
Returns        {0, n, then per job: id, priority, entry, name, data, attempt, max, opts}
               {1}: PAUSED; delivered entries were handed back to the stream
               {5, wait}: RATE_LIMITED, nothing started; claim again in `wait` ms. Either the
               tier's bucket is empty (delivered entries were handed back), or wait is 0: the
               defer budget ran out with jobs left to look at.
Entries whose job hash is gone (removed, or lost with Redis's data) are acknowledged and
dropped. Delivered entries beyond `count` are handed back, so claims never exceed slots
(count 0: a stopping worker hands back what its last blocking read delivered).
A job whose key has no token left goes to DELAYED (attempt unchanged) until its key's next
free token, which it takes at once (the bucket goes into debt) and keeps in its `rsv` field
("size:due:previous", so that remove and drain can give it back): it starts on that token
when it comes back, so later jobs of the key queue behind it rather than taking its token
first. Jobs of one key deferred together are one token interval apart.
A job held in its entry alone (lib/inline) gets its hash when it starts or is deferred.
A claim run again with the same delivered entries (its reply was lost and the client resent
it) reports the jobs the first run started from them again, with the same attempt.
XREADGROUP's reply differs inside Lua between Redis and fakeredis; both shapes are read. ]]
-- @include place
-- @include inline
-- @include owns_run
local group, consumer = ARGV[1], ARGV[2]
local now, count = tonumber(ARGV[3]), tonumber(ARGV[4])
local now_text = ARGV[3]  -- for redis.call: a Lua number is formatted with printf there
local prefix = ARGV[5]
local tier_limit, key_limit = tonumber(ARGV[6]), tonumber(ARGV[9])
local budget = tonumber(ARGV[12])
local delivered = tonumber(ARGV[13])
local first = 14
local index = KEYS[14]

-- An entry deleted by hand while delivered takes the data of a job held in it: the index
-- forgets the job.
local function forget_deleted(prio, entry, id)
  if redis.call('HGET', index, id) == place(prio, entry) then
    redis.call('HDEL', index, id)
  end
end

-- A delivered entry goes back to the stream's tail, if it is still the job's current one.
-- An entry its job started from (a claim whose reply was lost) stays pending, for reclaim.
local function hand_back(prio, stream, entry, id)
  local fields = entry_fields(stream, entry)
  local job = fields and inline_job(fields)
  local key = prefix .. id
  local cur = redis.call('HMGET', key, 'entry', 'state')
  if cur[1] == entry and cur[2] ~= 'waiting' then return end
  if not fields then forget_deleted(prio, entry, id) end
  redis.call('XACK', stream, group, entry)
  redis.call('XDEL', stream, entry)
  if job then
    if inline_current(index, job, prio, entry) then
      inline_requeue(index, stream, prio, job)
    end
    return
  end
  if cur[1] == entry then
    local fresh = redis.call('XADD', stream, '*', 'id', id)
    redis.call('HSET', key, 'entry', fresh)
  end
end

local function hand_back_delivered()
  for k = 0, delivered - 1 do
    local b = first + 3 * k
    local prio = tonumber(ARGV[b])
    hand_back(prio, KEYS[2 + prio], ARGV[b + 1], ARGV[b + 2])
  end
end

-- Token buckets, in integer units: one token = `per` units, refilled at `limit` units per ms.
local function load_bucket(key, limit, per, burst)
  local f = redis.call('HMGET', key, 't', 'ts', 'q')
  local b = {key = key, limit = limit, per = per, cap = burst * per, dirty = false,
             t = tonumber(f[1]), ts = tonumber(f[2]), q = tonumber(f[3]) or 0}
  if not b.t or not b.ts then b.t, b.ts = b.cap, now end
  if now > b.ts then
    b.t = math.min(b.cap, b.t + (now - b.ts) * limit)
    b.ts = now
  end
  return b
end

local function wait_ms(b)  -- until the bucket holds one token
  if b.t >= b.per then return 0 end
  return math.ceil((b.per - b.t) / b.limit) + b.ts - now
end

local function save_bucket(b)
  if not b.dirty then return end
  local ttl = math.ceil((b.cap - b.t) / b.limit) + b.ts - now
  if b.q - now > ttl then ttl = b.q - now end
  if ttl <= 0 then
    redis.call('DEL', b.key)
  else
    redis.call('HSET', b.key, 't', b.t, 'ts', b.ts, 'q', b.q)
    redis.call('PEXPIRE', b.key, ttl)
  end
end

if redis.call('HGET', KEYS[1], 'paused') == '1' then
  hand_back_delivered()
  return {1}
end

local tier_bucket
if tier_limit > 0 then
  tier_bucket = load_bucket(KEYS[13], tier_limit, tonumber(ARGV[7]), tonumber(ARGV[8]))
  local tokens = math.floor(tier_bucket.t / tier_bucket.per)
  if tokens < 1 then
    hand_back_delivered()
    return {5, wait_ms(tier_bucket)}
  end
  if tokens < count then count = tokens end
end

local key_buckets, deferred = {}, 0

local function key_bucket(rk)
  local b = key_buckets[rk]
  if not b then
    b = load_bucket(KEYS[13] .. ':' .. rk, key_limit, tonumber(ARGV[10]), tonumber(ARGV[11]))
    key_buckets[rk] = b
  end
  return b
end

-- The job waits in DELAYED until its key's next token not promised to an earlier job, and
-- takes that token now (`rsv`): a job of the key claimed before it comes back finds none.
local function defer(prio, stream, entry, key, id, b, job)
  local due = now + wait_ms(b)
  local spaced = b.q + math.ceil(b.per / b.limit)
  if spaced > due then due = spaced end
  -- The job's token is the one that comes at `due`: the bucket refills nothing before then.
  -- (Spaced whole ms apart, a key's deferred jobs drift behind the refill: without this,
  -- a job claimed in between started on a token that refilled meanwhile.)
  local t = math.min(b.t - b.per, (b.ts - due) * b.limit)
  local rsv = string.format('%d:%d:%d', b.t - t, due, b.q)  -- for lib/refund_token
  b.q, b.t, b.dirty = due, t, true
  redis.call('XACK', stream, group, entry)
  redis.call('XDEL', stream, entry)
  if job then
    inline_to_hash(key, prio, job, 'attempt', '0', 'state', 'delayed', 'due', due, 'rsv', rsv)
  else
    redis.call('HDEL', key, 'entry')
    redis.call('HSET', key, 'state', 'delayed', 'due', due, 'rsv', rsv)
  end
  redis.call('ZADD', KEYS[12], due, id)
  deferred = deferred + 1
end

local reply, started, repeated = {0, 0}, 0, 0

local function drop(stream, entry)
  redis.call('XACK', stream, group, entry)
  redis.call('XDEL', stream, entry)
end

local function started_job(id, prio, entry, name, data, attempt, max, opts)
  started = started + 1
  local r = #reply
  reply[r + 1], reply[r + 2], reply[r + 3], reply[r + 4] = id, prio, entry, name
  reply[r + 5], reply[r + 6], reply[r + 7], reply[r + 8] = data, attempt, max, opts or ''
end

-- false if the job's key has no token left (the job was deferred)
local function take_key_token(prio, stream, entry, key, id, rk, job)
  if key_limit == 0 or not rk then return true end
  local b = key_bucket(rk)
  if b.t < b.per then
    defer(prio, stream, entry, key, id, b, job)
    return false
  end
  b.t, b.dirty = b.t - b.per, true
  return true
end

-- The job already started from this entry, for this consumer: this claim is being run again
-- (its reply was lost and the client resent it). The job is reported started as the first
-- run's reply would have; dropping the entry would leave it ACTIVE with nothing to reclaim.
local function started_before(prio, entry, key, id)
  if not owns_run(key, entry, consumer) then return false end
  local f = redis.call('HMGET', key, 'name', 'data', 'attempt', 'max', 'opts')
  started_job(id, prio, entry, f[1], f[2], tonumber(f[3]), f[4], f[5])
  repeated = repeated + 1  -- its token was taken by the first run
  return true
end

-- An entry no worker was given before is its job's current one when the index holds the
-- job: the job's entries are deleted whenever the index moves or forgets it.
local function activate_inline(prio, stream, entry, key, job)
  if redis.call('HDEL', index, job.id) == 0 then
    if started_before(prio, entry, key, job.id) then return end
    return drop(stream, entry)
  end
  if not take_key_token(prio, stream, entry, key, job.id, job.rk, job) then return end
  inline_to_hash(key, prio, job,
    'attempt', '1', 'state', 'active', 'entry', entry, 'start', now_text, 'worker', consumer)
  started_job(job.id, prio, entry, job.name, job.data, 1, job.max, job.opts)
end

-- `fields`: the entry's, or nil for an entry delivered by the worker's blocking read
local function activate(prio, stream, entry, id, fields)
  fields = fields or entry_fields(stream, entry)
  local key = prefix .. id
  local job = fields and inline_job(fields)
  if job then return activate_inline(prio, stream, entry, key, job) end
  local cur = redis.call('HMGET', key, 'state', 'entry', 'rk', 'attempt', 'name', 'data', 'max',
    'opts', 'rsv')
  if not cur[1] and not fields then forget_deleted(prio, entry, id) end
  -- a stale entry (job gone, started, or removed and re-enqueued under a new entry) is dropped
  if cur[1] ~= 'waiting' or cur[2] ~= entry then
    if cur[1] == 'active' and started_before(prio, entry, key, id) then return end
    return drop(stream, entry)
  end
  if cur[9] then  -- deferred by its key's limit: it took its token then
    redis.call('HDEL', key, 'rsv')
  elseif not take_key_token(prio, stream, entry, key, id, cur[3]) then
    return
  end
  local attempt = tonumber(cur[4]) + 1
  redis.call('HSET', key, 'state', 'active', 'start', now_text, 'worker', consumer,
    'attempt', attempt)
  started_job(id, prio, entry, cur[5], cur[6], attempt, cur[7], cur[8])
end

for k = 0, delivered - 1 do
  local b = first + 3 * k
  local prio = tonumber(ARGV[b])
  local stream = KEYS[2 + prio]
  if started < count then
    activate(prio, stream, ARGV[b + 1], ARGV[b + 2])
  else
    hand_back(prio, stream, ARGV[b + 1], ARGV[b + 2])
  end
end

local exhausted = false
for p = 0, 9 do
  if started >= count or exhausted then break end
  local stream = KEYS[2 + p]
  -- read again while entries were dropped or deferred and slots are still free
  while started < count and redis.call('XLEN', stream) > 0 do
    if deferred >= budget then
      exhausted = true
      break
    end
    local r = redis.call('XREADGROUP', 'GROUP', group, consumer,
      'COUNT', math.min(count - started, budget - deferred), 'STREAMS', stream, '>')
    local entries
    if r and #r > 0 then
      if type(r[1]) == 'table' then entries = r[1][2] else entries = r[2] end
    end
    if not entries or #entries == 0 then break end
    for _, e in ipairs(entries) do
      activate(p, stream, e[1], e[2][2], e[2])
    end
  end
end

for _, b in pairs(key_buckets) do save_bucket(b) end
if tier_bucket and started > repeated then
  tier_bucket.t, tier_bucket.dirty = tier_bucket.t - (started - repeated) * tier_bucket.per, true
  save_bucket(tier_bucket)
end
if started == 0 and exhausted then
  return {5, 0}
end
reply[2] = started
return reply
