-- write_job(key, index, delayed, stream, now, id, name, data, prio, due, max, opts, rk): write
-- one new job. Due now (WAITING), the job lives in its entry in `stream` alone, and `index`
-- maps its id to its entry (lib/inline); claim gives it a hash when it starts. Due later
-- (DELAYED), it gets its place in the `delayed` set and a hash (fields in
-- docs/architecture.md) in one HSET. The first write grows memory, so an out-of-memory
-- rejection happens before anything is written.
local function write_job(key, index, delayed, stream, now, id, name, data, prio, due, max,
                         opts, rk)
  local fields
  if due <= now then
    fields = {'id', id, 'name', name, 'data', data, 'max', max, 'enq', now}
  else
    fields = {'name', name, 'data', data, 'max', max, 'enq', now, 'prio', prio, 'attempt', 0,
      'state', 'delayed', 'due', due}
  end
  if opts ~= '' then
    fields[#fields + 1], fields[#fields + 2] = 'opts', opts
  end
  if rk and rk ~= '' then
    fields[#fields + 1], fields[#fields + 2] = 'rk', rk
  end
  if due <= now then
    local entry = redis.call('XADD', stream, '*', unpack(fields))
    redis.call('HSET', index, id, place(prio, entry))
  else
    redis.call('ZADD', delayed, due, id)
    redis.call('HSET', key, unpack(fields))
  end
end
