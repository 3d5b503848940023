-- write_job(key, delayed, stream, now, id, name, data, prio, due, max, opts, rk): write one
-- new job. Due now (WAITING), the job lives in its entry in `stream` alone (lib/inline), and
-- write_job returns its place (lib/place): the caller maps the id to it in the index hash
-- (claim gives the job a hash when it starts). Due later (DELAYED), it gets its place in
-- the `delayed` set and a hash (fields in docs/architecture.md) in one HSET, and write_job
-- returns nil. The first write grows memory, so an out-of-memory rejection happens before
-- anything is written. `now` is the ARGV text (redis.call formats a Lua number with printf).
local function write_job(key, delayed, stream, now, id, name, data, prio, due, max, opts, rk)
  local fields
  local due_now = due <= tonumber(now)
  if due_now then
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
  if due_now then
    local entry = redis.call('XADD', stream, '*', unpack(fields))
    return place(prio, entry)
  end
  redis.call('ZADD', delayed, due, id)
  redis.call('HSET', key, unpack(fields))
  return nil
end
