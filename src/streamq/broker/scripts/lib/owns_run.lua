-- owns_run(key, entry, consumer): whether `consumer` still owns the run of the job whose
-- hash is `key` that started from stream entry `entry`: the hash says the job is active,
-- in that entry, started by that consumer. XACK does not check an entry's owner, so the
-- scripts that end or hand back a run ask this first. The record agrees with the pending
-- list: the one change of an entry's owner there (reclaim) gives the job a new entry in
-- the same script, and every other end of a run changes or deletes the record.
local function owns_run(key, entry, consumer)
  local f = redis.call('HMGET', key, 'state', 'entry', 'worker')
  return f[1] == 'active' and f[2] == entry and f[3] == consumer
end
