-- waiting_count(delayed, first_stream, group, prios): jobs not yet started: delayed, plus
-- entries in the ready streams KEYS[first_stream .. first_stream + 9] not delivered to a
-- worker. `prios` is the meta hash's `prios` (lib/priorities): only the streams of the
-- priorities it names are read; false (a queue made before the field) reads all ten.
local function waiting_count(delayed, first_stream, group, prios)
  local waiting = redis.call('ZCARD', delayed)
  local n = prios and #prios or 10
  for i = 1, n do
    local p = prios and string.byte(prios, i) - 48 or i - 1
    local stream = KEYS[first_stream + p]
    local len = redis.call('XLEN', stream)
    if len > 0 then
      local pending = redis.pcall('XPENDING', stream, group)
      if type(pending) == 'table' and not pending.err then
        len = len - pending[1]
      end
      waiting = waiting + len
    end
  end
  return waiting
end
