--[[ promote_due: move delayed jobs whose time has come to their ready stream, in a bounded
batch so that no single call blocks Redis for long with a large backlog.

KEYS[1]        delayed sorted set (score = due time, ms)
KEYS[2..11]    ready streams for priorities 0..9
ARGV[1]        now, ms since the epoch
ARGV[2]        limit: at most this many jobs per call
ARGV[3]        job key prefix
Returns        {0, promoted, next_due}: next_due = due time (ms) of the earliest job still
               delayed, -1 if none. promoted == limit means: call again at once. ]]
local now, limit, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(due) do
  local key = prefix .. id
  local prio = redis.call('HGET', key, 'prio')
  if prio then
    local entry = redis.call('XADD', KEYS[2 + tonumber(prio)], '*', 'id', id)
    redis.call('HSET', key, 'state', 'waiting', 'entry', entry)
    redis.call('HDEL', key, 'due')
  end
  redis.call('ZREM', KEYS[1], id)
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local next_due = -1
if nxt[2] then next_due = tonumber(nxt[2]) end
return {0, #due, next_due}
