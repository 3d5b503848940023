-- trim_finished(set, keep, job_prefix, logs_prefix, before): retention: delete the oldest
-- finished jobs (hash and log) beyond the newest `keep` in the completed or failed set;
-- only jobs finished before `before` (ms), so that a call finishing jobs at `before` keeps
-- all its own (and so do other workers' finished in the same ms, or clocks ahead), unless
-- `keep` is 0: then none is kept, its own included.
-- ZRANGE (ZRANGEBYSCORE) and ZREMRANGEBYRANK rather than ZPOPMIN: ZPOPMIN replies with
-- every score, which Redis formats as a double (snprintf) for nothing. Only commands the
-- documented ACL grants (docs/security.md). Needs call_batched.
local function trim_finished(set, keep, job_prefix, logs_prefix, before)
  local excess = redis.call('ZCARD', set) - keep
  if excess <= 0 then return end
  local old
  if keep > 0 then  -- the lowest ranks too: every job finished earlier ranks below the rest
    old = redis.call('ZRANGEBYSCORE', set, '-inf', '(' .. before, 'LIMIT', 0, excess)
  else
    old = redis.call('ZRANGE', set, 0, excess - 1)
  end
  if #old == 0 then return end
  redis.call('ZREMRANGEBYRANK', set, 0, #old - 1)
  local doomed = {}
  for _, id in ipairs(old) do
    doomed[#doomed + 1] = job_prefix .. id
    doomed[#doomed + 1] = logs_prefix .. id
  end
  call_batched('DEL', {}, doomed)
end
