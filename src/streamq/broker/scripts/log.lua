--[[ log: append a line to a job's log, keeping the newest `max` lines.

KEYS[1]        job hash; KEYS[2] the job's log list
KEYS[3]        index hash (a job held in its entry has no hash yet)
ARGV[1]        the line; ARGV[2] max lines kept; ARGV[3] job id
Returns        {0}; {3}: JOB_NOT_FOUND (removed meanwhile: nothing is written) ]]
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('HEXISTS', KEYS[3], ARGV[3]) == 0 then
  return {3}
end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
return {0}
