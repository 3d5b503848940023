-- trim_finished(set, keep, job_prefix, logs_prefix): retention: delete the oldest finished
-- jobs (hash and log) beyond the newest `keep` in the completed or failed set.
-- Needs call_batched.
local function trim_finished(set, keep, job_prefix, logs_prefix)
  local excess = redis.call('ZCARD', set) - keep
  if excess > 0 then
    local old = redis.call('ZPOPMIN', set, excess)
    local doomed = {}
    for i = 1, #old, 2 do
      doomed[#doomed + 1] = job_prefix .. old[i]
      doomed[#doomed + 1] = logs_prefix .. old[i]
    end
    call_batched('DEL', {}, doomed)
  end
end
