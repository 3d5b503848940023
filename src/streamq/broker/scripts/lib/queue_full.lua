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
