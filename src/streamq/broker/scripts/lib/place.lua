-- A job held in its stream entry is found through the index hash: job id -> its place,
-- "<priority><entry ms, 11 hex digits><entry sequence, hex>" (e.g. "518bcfe568000" is
-- priority 5, entry 1700000000000-0). Up to sequence 255 the value fits in 14 bytes, the
-- smallest allocation for it: 8 bytes a job less than the entry id in decimal. It is made
-- once per enqueued job, so it is made with as few number conversions as Lua allows.

-- split_stream_id(id): a stream entry id's milliseconds and sequence, as numbers.
local function split_stream_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

-- priority -> its text: a Lua number passed to redis.call is formatted with printf
local PRIORITY_TEXT = {[0] = '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'}

-- place(prio, entry): the index value of the job held in `entry` of priority `prio`'s stream.
-- Entries made in one call mostly share their milliseconds: the last one's hex is kept.
local place_ms, place_ms_hex
local function place(prio, entry)
  local dash = string.find(entry, '-', 1, true)
  local ms = string.sub(entry, 1, dash - 1)
  if ms ~= place_ms then
    place_ms, place_ms_hex = ms, string.format('%011x', ms)
  end
  return PRIORITY_TEXT[prio] .. place_ms_hex .. string.format('%x', string.sub(entry, dash + 1))
end

-- unplace(value): the priority and entry id an index value names.
local function unplace(value)
  return tonumber(string.sub(value, 1, 1)),
    string.format('%.0f-%.0f', tonumber(string.sub(value, 2, 12), 16),
      tonumber(string.sub(value, 13), 16))
end
