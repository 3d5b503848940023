-- call_batched(command, head, items): one `command` call per 500 items, each as
-- `command head... item...` (XACK/XDEL/ZADD/DEL of a whole batch in a few calls: every
-- redis.call costs microseconds of its own, and Lua's unpack has a stack limit).
local function call_batched(command, head, items)
  local chunk = 500
  for from = 1, #items, chunk do
    local args = {}
    for i = 1, #head do args[i] = head[i] end
    local base = #head
    for i = from, math.min(from + chunk - 1, #items) do
      base = base + 1
      args[base] = items[i]
    end
    redis.call(command, unpack(args))
  end
end
