--[[ drain: delete jobs that have not started (waiting, and delayed if asked), in a batch.
Running jobs are left alone.

KEYS[1]        delayed sorted set
KEYS[2..11]    ready streams for priorities 0..9
KEYS[12]       index hash (job id -> place, lib/place, of each job held in its entry)
KEYS[13]       the tier's rate bucket (a key's bucket is KEYS[13] .. ':' .. key, as in claim)
KEYS[14]       events stream (a "drained" event wakes every Job.result waiter of the tier)
ARGV[1]        group name
ARGV[2]        drainer consumer name (entries pass through it on their way out)
ARGV[3]        limit: at most this many jobs per stream per call
ARGV[4]        job key prefix; ARGV[5] logs key prefix
ARGV[6]        1 = delayed jobs too, 0 = waiting only
ARGV[7]        now, ms since the epoch (a deferred job's token goes back before its due time)
ARGV[8]        events stream cap (approximate MAXLEN)
Returns        {0, deleted}: call again until deleted == 0
Reading with ">" yields the entries no worker has been given yet. Entries a worker's
blocking read was given but whose jobs no claim started (the worker died, or lost the
read's reply, before its claim) are pending yet not started: the job held in the entry is
still indexed there, or the job's hash is WAITING in that entry. They go too (a claim that
comes later finds them gone and starts nothing; a job it started early is cancelled). Of
the pending entries, the first `limit` of each stream are looked at per call. Jobs deferred
by their key's rate limit give their tokens back (lib/refund_token). ]]
-- @include place
-- @include refund_token
local group, drainer, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local job_prefix, logs_prefix = ARGV[4], ARGV[5]
local now = tonumber(ARGV[7])
local deleted = 0

-- whether the job of pending entry `entry` (fields `fields`) of priority `p` never started
local function not_started(p, entry, fields)
  local id = fields[2]
  if #fields > 2 then return redis.call('HGET', KEYS[12], id) == place(p, entry) end
  local f = redis.call('HMGET', job_prefix .. id, 'state', 'entry')
  return f[1] == 'waiting' and f[2] == entry
end

-- Tokens held by the deleted jobs that their key's limit deferred (promoted since, or not),
-- given back once the batch is deleted, latest reservation first (lib/refund_token).
local held = {}

-- a job that is not held in its entry may hold a rate-limit token
local function delete_job(id)
  local key = job_prefix .. id
  local f = redis.call('HMGET', key, 'rk', 'rsv')
  local size, due, previous = parse_rsv(f[2])
  if f[1] and size then
    held[#held + 1] = {rk = f[1], size = size, due = due, previous = previous}
  end
  redis.call('DEL', key, logs_prefix .. id)
end

local function delete_entry(stream, entry, fields)
  redis.call('XACK', stream, group, entry)
  redis.call('XDEL', stream, entry)
  if #fields > 2 then
    redis.call('DEL', job_prefix .. fields[2], logs_prefix .. fields[2])
    redis.call('HDEL', KEYS[12], fields[2])
  else
    delete_job(fields[2])
  end
  deleted = deleted + 1
end

for p = 0, 9 do
  local stream = KEYS[2 + p]
  if redis.call('XLEN', stream) > 0 then
    local r = redis.call('XREADGROUP', 'GROUP', group, drainer, 'COUNT', limit,
      'STREAMS', stream, '>')
    if r and #r > 0 then
      local entries
      if type(r[1]) == 'table' then entries = r[1][2] else entries = r[2] end
      for _, e in ipairs(entries) do delete_entry(stream, e[1], e[2]) end
    end
    redis.call('XGROUP', 'DELCONSUMER', stream, group, drainer)
    for _, pe in ipairs(redis.call('XPENDING', stream, group, '-', '+', limit)) do
      local found = redis.call('XRANGE', stream, pe[1], pe[1])[1]
      if found and found[2][2] and not_started(p, pe[1], found[2]) then
        delete_entry(stream, pe[1], found[2])
      end
    end
  end
end
if ARGV[6] == '1' then
  -- latest first: a deferred backlog longer than `limit` gives its tokens back call by call
  local ids = redis.call('ZREVRANGE', KEYS[1], 0, limit - 1)
  for _, id in ipairs(ids) do
    delete_job(id)
    redis.call('ZREM', KEYS[1], id)
  end
  deleted = deleted + #ids
end
table.sort(held, function(a, b) return a.due > b.due end)
for _, h in ipairs(held) do refund_token(KEYS[13], h.rk, h.size, h.due, h.previous, now) end
if deleted > 0 then
  redis.call('XADD', KEYS[14], 'MAXLEN', '~', tonumber(ARGV[8]), '*', 'ev', 'drained')
end
return {0, deleted}
