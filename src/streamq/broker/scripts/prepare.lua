--[[ prepare: create the ready streams and their consumer group where missing (first use,
or after Redis lost its data), and record the queue's schema version.

KEYS[1]        meta hash
KEYS[2..11]    ready streams for priorities 0..9
KEYS[12]       delayed sorted set (only read: whether a new queue already holds jobs)
ARGV[1]        group name
ARGV[2]        schema version
ARGV[3]        now, ms since the epoch
Returns        {0, created, had_meta}: created = groups created by this call;
               had_meta = 1 if the queue had been prepared before
Groups start at id 0, so jobs added while the group was missing are still delivered.
A new queue (no meta hash, no group, no job) gets an empty `prios` field (lib/priorities).
One that had data keeps what it has; one whose meta hash is gone but which holds jobs (a
producer enqueued after Redis lost its data, before this call) gets none, so the waiting
count reads all ten streams. A queue prepared before, its groups all there, is left
untouched: a full Redis (maxmemory) refuses any write, and a worker starting then must
still be able to drain the queue. ]]
local meta = redis.call('HMGET', KEYS[1], 'created', 'schema')
local created = 0
-- Looked up rather than created with the error caught: on a full Redis, XGROUP CREATE
-- answers OOM whether or not the group exists, so a missing group went unnoticed.
local function has_group(stream)
  local groups = redis.pcall('XINFO', 'GROUPS', stream)
  if type(groups) ~= 'table' or groups.err then return false end  -- no such stream
  for _, g in ipairs(groups) do
    for i = 1, #g - 1, 2 do
      if g[i] == 'name' and g[i + 1] == ARGV[1] then return true end
    end
  end
  return false
end

for p = 0, 9 do
  if not has_group(KEYS[2 + p]) then
    redis.call('XGROUP', 'CREATE', KEYS[2 + p], ARGV[1], '0', 'MKSTREAM')
    created = created + 1
  end
end
if created == 0 and meta[1] and meta[2] == ARGV[2] then return {0, 0, 1} end
local had_meta = redis.call('HSETNX', KEYS[1], 'created', ARGV[3])
local new_queue = had_meta == 1 and created == 10 and redis.call('ZCARD', KEYS[12]) == 0
for p = 0, 9 do  -- a group can be created on a stream a producer wrote to meanwhile
  new_queue = new_queue and redis.call('XLEN', KEYS[2 + p]) == 0
end
if new_queue then  -- no job yet, of any priority
  redis.call('HSET', KEYS[1], 'schema', ARGV[2], 'prios', '')
else
  redis.call('HSET', KEYS[1], 'schema', ARGV[2])
end
return {0, created, 1 - had_meta}
