--[[ promote_due: move delayed jobs whose time has come to their ready stream, in a bounded
batch so that no single call blocks Redis for long with a large backlog.

KEYS[1]        delayed sorted set (score = due time, ms)
KEYS[2..11]    ready streams for priorities 0..9
ARGV[1]        now, ms since the epoch
ARGV[2]        limit: at most this many jobs per call
ARGV[3]        job key prefix
Returns        {0, promoted, next_due}: next_due = due time (ms) of the earliest job still
               delayed, -1 if none. promoted == limit means: call again at once.
Cost: 4 commands per job (5-15 us on Redis 7.0 here); the worker's limit
(PROMOTE_BATCH) keeps one call within a few ms (docs/retries.md has the figures). ]]
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
end
-- the ids read are ranks 0..#due-1 (the range started at -inf): one removal for all,
-- about half the cost of a ZREM per id on a large set
if #due > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #due - 1) end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local next_due = -1
if nxt[2] then next_due = tonumber(nxt[2]) end
return {0, #due, next_due}
