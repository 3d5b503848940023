-- queue_full(delayed, first_stream, group, prios, adding, max_waiting): nil if `adding` more
-- jobs keep the tier within `max_waiting` jobs not yet started, else how many there are.
-- Those are the delayed jobs plus the entries of the ready streams KEYS[first_stream ..
-- first_stream + 9] not delivered to a worker (XLEN minus pending). `prios` is the meta
-- hash's `prios` (lib/priorities): only the streams of the priorities it names are read;
-- false (a queue made before the field) reads all ten. Pending entries are counted only
-- when the lengths alone (an upper bound) do not fit.
local function queue_full(delayed, first_stream, group, prios, adding, max_waiting)
  local waiting = redis.call('ZCARD', delayed)
  local filled = {}
  for i = 1, prios and #prios or 10 do
    local stream = KEYS[first_stream + (prios and string.byte(prios, i) - 48 or i - 1)]
    local len = redis.call('XLEN', stream)
    if len > 0 then
      waiting = waiting + len
      filled[#filled + 1] = stream
    end
  end
  if waiting + adding <= max_waiting then return nil end
  for _, stream in ipairs(filled) do
    local pending = redis.pcall('XPENDING', stream, group)
    if type(pending) == 'table' and not pending.err then
      waiting = waiting - pending[1]
    end
  end
  if waiting + adding <= max_waiting then return nil end
  return waiting
end

-- admit(meta, delayed, first_stream, group, priorities, adding, max_waiting): before `adding`
-- new jobs are written, whose priorities (ARGV texts) are listed in `priorities`: the number
-- of jobs not yet started if they would take the tier past `max_waiting` (0 = unbounded),
-- with nothing written; else nil, once their priorities are in the meta hash's `prios`
-- (lib/priorities, included before this file). Every script that creates jobs calls it.
local function admit(meta, delayed, first_stream, group, priorities, adding, max_waiting)
  local prios = redis.call('HGET', meta, 'prios')
  if max_waiting > 0 then
    local waiting = queue_full(delayed, first_stream, group, prios, adding, max_waiting)
    if waiting then return waiting end
  end
  local known = prios
  for _, prio in ipairs(priorities) do known = with_priority(known, prio) end
  if known ~= prios then redis.call('HSET', meta, 'prios', known) end
  return nil
end
