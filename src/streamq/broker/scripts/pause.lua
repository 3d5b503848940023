--[[ pause: pause or resume a queue. Workers stop claiming while it is paused; running jobs
finish. The change is announced on the events stream.

KEYS[1]        meta hash
KEYS[2]        events stream
ARGV[1]        1 = pause, 0 = resume
ARGV[2]        events stream cap (approximate MAXLEN)
Returns        {0} ]]
local ev = 'resumed'
if ARGV[1] == '1' then ev = 'paused' end
redis.call('HSET', KEYS[1], 'paused', ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', tonumber(ARGV[2]), '*', 'ev', ev)
return {0}
