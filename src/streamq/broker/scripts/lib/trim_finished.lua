-- trim_finished(set, keep, job_prefix, logs_prefix): retention: delete the oldest finished
-- jobs (hash and log) beyond the newest `keep` in the completed or failed set.
local function trim_finished(set, keep, job_prefix, logs_prefix)
  local excess = redis.call('ZCARD', set) - keep
  if excess > 0 then
    local old = redis.call('ZPOPMIN', set, excess)
    for i = 1, #old, 2 do
      redis.call('DEL', job_prefix .. old[i], logs_prefix .. old[i])
    end
  end
end
