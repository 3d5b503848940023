--[[ progress: record a running job's progress (0..100).

KEYS[1]        job hash
KEYS[2]        index hash (jobs held in their entry are WAITING)
ARGV[1]        progress; ARGV[2] job id
ARGV[3..4]     the run reporting it, from its processor: entry id and consumer ("" for none)
Returns        {0}; {3}: JOB_NOT_FOUND (removed meanwhile: nothing is written)
               {4, "waiting"}: WRONG_STATE, the job has not started (nothing is written)
               {2}: LEASE_LOST, the run is no longer the job's (removed and enqueued again,
               or reclaimed): nothing is written into the job's next run ]]
-- @include owns_run
if ARGV[3] ~= '' then
  if not owns_run(KEYS[1], ARGV[3], ARGV[4]) then return {2} end
elseif redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return {4, 'waiting'} end
  return {3}
end
redis.call('HSET', KEYS[1], 'progress', ARGV[1])
return {0}
