-- The meta hash's `prios` field names, as digits, every priority a job of the queue was
-- ever created with ("" for a new queue): only those ready streams can hold entries, since
-- a job keeps its priority for life. Counting the waiting jobs (lib/queue_full) then
-- reads those streams, not all ten. It is written when jobs are created (admit, in
-- lib/queue_full, which enqueue and fire_schedule call) and by prepare for a new queue; a
-- queue made before the field has none, and every stream is read for it.

-- with_priority(prios, prio): `prios` naming priority `prio` (its ARGV text) too; false
-- (no field) stays false.
local function with_priority(prios, prio)
  if prios and not string.find(prios, prio, 1, true) then return prios .. prio end
  return prios
end
