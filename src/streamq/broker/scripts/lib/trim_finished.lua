-- trim_finished(set, keep, job_prefix, logs_prefix): retention: delete the oldest finished
-- jobs (hash and log) beyond the newest `keep` in the completed or failed set.
-- ZRANGE and ZREMRANGEBYRANK rather than ZPOPMIN: ZPOPMIN replies with every score, which
-- Redis formats as a double (snprintf) for nothing. Needs call_batched.
local function trim_finished(set, keep, job_prefix, logs_prefix)
  local excess = redis.call('ZCARD', set) - keep
  if excess > 0 then
    local old = redis.call('ZRANGE', set, 0, excess - 1)
    redis.call('ZREMRANGEBYRANK', set, 0, excess - 1)
    local doomed = {}
    for _, id in ipairs(old) do
      doomed[#doomed + 1] = job_prefix .. id
      doomed[#doomed + 1] = logs_prefix .. id
    end
    call_batched('DEL', {}, doomed)
  end
end
