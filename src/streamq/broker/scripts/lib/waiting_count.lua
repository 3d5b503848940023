-- waiting_count(delayed, first_stream, group): jobs not yet started: delayed, plus entries
-- in the ten ready streams KEYS[first_stream .. first_stream + 9] not delivered to a worker.
local function waiting_count(delayed, first_stream, group)
  local waiting = redis.call('ZCARD', delayed)
  for p = 0, 9 do
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
