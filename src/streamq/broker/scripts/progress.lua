--[[ progress: record a running job's progress (0..100).

KEYS[1]        job hash
ARGV[1]        progress
Returns        {0}; {3}: JOB_NOT_FOUND (removed meanwhile: nothing is written) ]]
if redis.call('EXISTS', KEYS[1]) == 0 then return {3} end
redis.call('HSET', KEYS[1], 'progress', ARGV[1])
return {0}
