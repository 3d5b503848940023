-- write_job(key, delayed, stream, now, id, name, data, prio, due, max, opts, rk): write one
-- new job: its entry in `stream` (due now: WAITING) or its place in the `delayed` set (due
-- later: DELAYED), then its hash (fields in docs/architecture.md) in one HSET. The first
-- write grows memory, so an out-of-memory rejection happens before anything is written.
local function write_job(key, delayed, stream, now, id, name, data, prio, due, max, opts, rk)
  local fields = {'HSET', key, 'name', name, 'data', data, 'prio', prio, 'attempt', 0,
    'max', max, 'enq', now}
  if due > now then
    redis.call('ZADD', delayed, due, id)
    fields[#fields + 1], fields[#fields + 2] = 'state', 'delayed'
    fields[#fields + 1], fields[#fields + 2] = 'due', due
  else
    fields[#fields + 1], fields[#fields + 2] = 'state', 'waiting'
    fields[#fields + 1], fields[#fields + 2] = 'entry', redis.call('XADD', stream, '*', 'id', id)
  end
  if opts ~= '' then
    fields[#fields + 1], fields[#fields + 2] = 'opts', opts
  end
  if rk and rk ~= '' then
    fields[#fields + 1], fields[#fields + 2] = 'rk', rk
  end
  redis.call(unpack(fields))
end
