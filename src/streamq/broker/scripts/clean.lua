--[[ clean: delete finished jobs older than a cut-off from one retention set, in a batch.

KEYS[1]        completed or failed sorted set (score = finish time, ms)
ARGV[1]        cut-off, ms since the epoch: jobs finished at or before it are deleted
ARGV[2]        limit: at most this many per call
ARGV[3]        job key prefix; ARGV[4] logs key prefix
Returns        {0, deleted}: deleted == limit means: call again ]]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[3] .. id, ARGV[4] .. id)
  redis.call('ZREM', KEYS[1], id)
end
return {0, #ids}
