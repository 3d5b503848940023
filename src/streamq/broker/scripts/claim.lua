--[[ claim: start up to `count` jobs for one consumer, highest priority (0) first.

KEYS[1]        meta hash (field "paused")
KEYS[2..11]    ready streams for priorities 0..9
ARGV[1]        group name
ARGV[2]        consumer name (the worker)
ARGV[3]        now, ms since the epoch
ARGV[4]        count: how many jobs the worker has free slots for
ARGV[5]        job key prefix (the job hash is prefix .. id; same hash tag as KEYS)
ARGV[6]        d: entries already delivered to this consumer by a blocking XREADGROUP
ARGV[7 + 3k..] per delivered entry: priority, entry id, job id
Returns        {0, n, then per job: id, priority, entry, name, data, attempt, max, opts}
               {1}: PAUSED; delivered entries were handed back to the stream
Entries whose job hash is gone (removed, or lost with Redis's data) are acknowledged and
dropped. Delivered entries beyond `count` are handed back, so claims never exceed slots.
XREADGROUP's reply differs inside Lua between Redis and fakeredis; both shapes are read. ]]
local group, consumer = ARGV[1], ARGV[2]
local now, count = tonumber(ARGV[3]), tonumber(ARGV[4])
local prefix = ARGV[5]
local delivered = tonumber(ARGV[6])

local function hand_back(stream, entry, id)
  redis.call('XACK', stream, group, entry)
  redis.call('XDEL', stream, entry)
  local key = prefix .. id
  if redis.call('EXISTS', key) == 1 then
    local fresh = redis.call('XADD', stream, '*', 'id', id)
    redis.call('HSET', key, 'entry', fresh)
  end
end

if redis.call('HGET', KEYS[1], 'paused') == '1' then
  for k = 0, delivered - 1 do
    local b = 7 + 3 * k
    hand_back(KEYS[2 + tonumber(ARGV[b])], ARGV[b + 1], ARGV[b + 2])
  end
  return {1}
end

local reply, started = {0, 0}, 0

local function activate(prio, stream, entry, id)
  local key = prefix .. id
  local cur = redis.call('HMGET', key, 'state', 'entry')
  -- a stale entry (job gone, started, or removed and re-enqueued under a new entry) is dropped
  if cur[1] ~= 'waiting' or cur[2] ~= entry then
    redis.call('XACK', stream, group, entry)
    redis.call('XDEL', stream, entry)
    return
  end
  local attempt = redis.call('HINCRBY', key, 'attempt', 1)
  redis.call('HSET', key, 'state', 'active', 'start', now, 'worker', consumer)
  local f = redis.call('HMGET', key, 'name', 'data', 'max', 'opts')
  started = started + 1
  local r = #reply
  reply[r + 1] = id
  reply[r + 2] = prio
  reply[r + 3] = entry
  reply[r + 4] = f[1]
  reply[r + 5] = f[2]
  reply[r + 6] = attempt
  reply[r + 7] = f[3]
  reply[r + 8] = f[4] or ''
end

for k = 0, delivered - 1 do
  local b = 7 + 3 * k
  local prio = tonumber(ARGV[b])
  local stream = KEYS[2 + prio]
  if started < count then
    activate(prio, stream, ARGV[b + 1], ARGV[b + 2])
  else
    hand_back(stream, ARGV[b + 1], ARGV[b + 2])
  end
end

for p = 0, 9 do
  if started >= count then break end
  local stream = KEYS[2 + p]
  -- read again while entries of vanished jobs were dropped and slots are still free
  while started < count and redis.call('XLEN', stream) > 0 do
    local r = redis.call('XREADGROUP', 'GROUP', group, consumer,
      'COUNT', count - started, 'STREAMS', stream, '>')
    local entries
    if r and #r > 0 then
      if type(r[1]) == 'table' then entries = r[1][2] else entries = r[2] end
    end
    if not entries or #entries == 0 then break end
    for _, e in ipairs(entries) do
      activate(p, stream, e[1], e[2][2])
    end
  end
end

reply[2] = started
return reply
