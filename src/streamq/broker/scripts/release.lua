--[[ release: hand running jobs back to the queue at once (graceful shutdown), so another
worker takes them now rather than after the lease. The attempt is not counted.

KEYS[1..10]    ready streams for priorities 0..9
ARGV[1]        group name; ARGV[2] consumer name
ARGV[3]        job key prefix
ARGV[4]        n, the number of jobs
ARGV[5 + 3k..] per job: id, priority, entry id
Returns        {0, s1, ..., sn}: si = 1 handed back, 0 LEASE_LOST (no longer ours:
               lib/owns_run) ]]
-- @include owns_run
local group, consumer, prefix = ARGV[1], ARGV[2], ARGV[3]
local n = tonumber(ARGV[4])
local reply = {0}
for k = 0, n - 1 do
  local b = 5 + 3 * k
  local id, stream, entry = ARGV[b], KEYS[1 + tonumber(ARGV[b + 1])], ARGV[b + 2]
  local key = prefix .. id
  if owns_run(key, entry, consumer) then
    redis.call('XACK', stream, group, entry)
    redis.call('XDEL', stream, entry)
    local fresh = redis.call('XADD', stream, '*', 'id', id)
    redis.call('HSET', key, 'state', 'waiting', 'entry', fresh)
    redis.call('HINCRBY', key, 'attempt', -1)
    redis.call('HDEL', key, 'start', 'worker')
    reply[k + 2] = 1
  else
    reply[k + 2] = 0
  end
end
return reply
