--[[ drain: delete jobs that have not started (waiting, and delayed if asked), in a batch.
Running jobs are left alone.

KEYS[1]        delayed sorted set
KEYS[2..11]    ready streams for priorities 0..9
KEYS[12]       index hash (job id -> place, lib/place, of each job held in its entry)
ARGV[1]        group name
ARGV[2]        drainer consumer name (entries pass through it on their way out)
ARGV[3]        limit: at most this many jobs per stream per call
ARGV[4]        job key prefix; ARGV[5] logs key prefix
ARGV[6]        1 = delayed jobs too, 0 = waiting only
Returns        {0, deleted}: call again until deleted == 0
Reading with ">" yields exactly the entries no worker has been given yet. ]]
local group, drainer, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local job_prefix, logs_prefix = ARGV[4], ARGV[5]
local deleted = 0
for p = 0, 9 do
  local stream = KEYS[2 + p]
  if redis.call('XLEN', stream) > 0 then
    local r = redis.call('XREADGROUP', 'GROUP', group, drainer, 'COUNT', limit,
      'STREAMS', stream, '>')
    if r and #r > 0 then
      local entries
      if type(r[1]) == 'table' then entries = r[1][2] else entries = r[2] end
      for _, e in ipairs(entries) do
        redis.call('XACK', stream, group, e[1])
        redis.call('XDEL', stream, e[1])
        redis.call('DEL', job_prefix .. e[2][2], logs_prefix .. e[2][2])
        if #e[2] > 2 then redis.call('HDEL', KEYS[12], e[2][2]) end
        deleted = deleted + 1
      end
    end
    redis.call('XGROUP', 'DELCONSUMER', stream, group, drainer)
  end
end
if ARGV[6] == '1' then
  local ids = redis.call('ZRANGE', KEYS[1], 0, limit - 1)
  for _, id in ipairs(ids) do
    redis.call('DEL', job_prefix .. id, logs_prefix .. id)
    redis.call('ZREM', KEYS[1], id)
  end
  deleted = deleted + #ids
end
return {0, deleted}
