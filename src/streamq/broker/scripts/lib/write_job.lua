-- write_job(key, delayed, stream, now, id, name, data, prio, due, max, opts, rk): write one
-- new job: its hash (fields in docs/architecture.md), then its entry in `stream` (due now:
-- WAITING) or its place in the `delayed` set (due later: DELAYED). The first write is the
-- HSET, so an out-of-memory rejection happens before anything is written.
local function write_job(key, delayed, stream, now, id, name, data, prio, due, max, opts, rk)
  redis.call('HSET', key, 'name', name, 'data', data, 'prio', prio, 'attempt', 0, 'max', max,
    'enq', now)
  if opts ~= '' then
    redis.call('HSET', key, 'opts', opts)
  end
  if rk and rk ~= '' then
    redis.call('HSET', key, 'rk', rk)
  end
  if due > now then
    redis.call('HSET', key, 'state', 'delayed', 'due', due)
    redis.call('ZADD', delayed, due, id)
  else
    local entry = redis.call('XADD', stream, '*', 'id', id)
    redis.call('HSET', key, 'state', 'waiting', 'entry', entry)
  end
end
