--[[ log: append a line to a job's log, keeping the newest `max` lines.

KEYS[1]        job hash; KEYS[2] the job's log list
KEYS[3]        index hash (a job held in its entry has no hash yet)
ARGV[1]        the line; ARGV[2] max lines kept; ARGV[3] job id
ARGV[4..5]     the run writing it, from its processor: entry id and consumer ("" for none)
Returns        {0}; {3}: JOB_NOT_FOUND (removed meanwhile: nothing is written)
               {2}: LEASE_LOST, the run is no longer the job's (removed and enqueued again,
               or reclaimed): nothing is written into the job's next run ]]
-- @include owns_run
if ARGV[4] ~= '' then
  if not owns_run(KEYS[1], ARGV[4], ARGV[5]) then return {2} end
elseif redis.call('EXISTS', KEYS[1]) == 0 and redis.call('HEXISTS', KEYS[3], ARGV[3]) == 0 then
  return {3}
end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
return {0}
