-- hold_job(stream, now, id, name, data, prio, max, opts, rk): write a job due now (WAITING).
-- It lives in its entry in `stream` alone (lib/inline); hold_job returns its place
-- (lib/place), which the caller maps the id to in the index hash (claim gives the job a hash
-- when it starts). `now` is the ARGV text (redis.call formats a Lua number with printf).
local function hold_job(stream, now, id, name, data, prio, max, opts, rk)
  local entry
  if opts == '' and (rk == nil or rk == '') then
    entry = redis.call('XADD', stream, '*', 'id', id, 'name', name, 'data', data, 'max', max,
      'enq', now)
  else
    local fields = {'id', id, 'name', name, 'data', data, 'max', max, 'enq', now}
    if opts ~= '' then fields[#fields + 1], fields[#fields + 2] = 'opts', opts end
    if rk and rk ~= '' then fields[#fields + 1], fields[#fields + 2] = 'rk', rk end
    entry = redis.call('XADD', stream, '*', unpack(fields))
  end
  return place(prio, entry)
end

-- delay_job(key, delayed, now, id, name, data, prio, due, max, opts, rk): write a job due
-- later (DELAYED): its place in the `delayed` set and a hash (fields in
-- docs/architecture.md), in one HSET.
local function delay_job(key, delayed, now, id, name, data, prio, due, max, opts, rk)
  local fields = {'name', name, 'data', data, 'max', max, 'enq', now, 'prio', prio,
    'attempt', 0, 'state', 'delayed', 'due', due}
  if opts ~= '' then fields[#fields + 1], fields[#fields + 2] = 'opts', opts end
  if rk and rk ~= '' then fields[#fields + 1], fields[#fields + 2] = 'rk', rk end
  redis.call('ZADD', delayed, due, id)
  redis.call('HSET', key, unpack(fields))
end

-- write_job(key, delayed, stream, now, id, name, data, prio, due, max, opts, rk): one new
-- job, held (due now: returns its place) or delayed (returns nil). The first write grows
-- memory, so an out-of-memory rejection happens before anything is written.
local function write_job(key, delayed, stream, now, id, name, data, prio, due, max, opts, rk)
  if due <= tonumber(now) then
    return hold_job(stream, now, id, name, data, prio, max, opts, rk)
  end
  delay_job(key, delayed, now, id, name, data, prio, due, max, opts, rk)
  return nil
end
