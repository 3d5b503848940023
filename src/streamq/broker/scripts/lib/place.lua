-- A job held in its stream entry is found through the index hash: job id -> its place,
-- "<priority><entry ms, 11 hex digits><entry sequence, hex>" (e.g. "518bcfe568000" is
-- priority 5, entry 1700000000000-0). Up to sequence 255 the value fits in 14 bytes, the
-- smallest allocation for it: 8 bytes a job less than the entry id in decimal. One
-- string.format keeps it cheap: it runs once per enqueued job.

-- split_stream_id(id): a stream entry id's milliseconds and sequence, as numbers.
local function split_stream_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

-- place(prio, entry): the index value of the job held in `entry` of priority `prio`'s stream.
local function place(prio, entry)
  local ms, seq = split_stream_id(entry)
  return string.format('%d%011x%x', prio, ms, seq)
end

-- unplace(value): the priority and entry id an index value names.
local function unplace(value)
  return tonumber(string.sub(value, 1, 1)),
    string.format('%.0f-%.0f', tonumber(string.sub(value, 2, 12), 16),
      tonumber(string.sub(value, 13), 16))
end
