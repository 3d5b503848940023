-- release_entries(stream, group, entries): acknowledge delivered `entries` of `stream` and
-- delete them from it. Needs call_batched and place (split_stream_id).
-- XDEL seeks each entry from the start of its stream node and walks every entry before it
-- (about 4 µs an entry with 100-entry nodes), while XTRIM MINID frees whole nodes and walks
-- one. So the entries older than both the group's oldest pending entry and just past the
-- newest released one go with one XTRIM: none of them is pending, and all were delivered
-- (undelivered entries are newer than every delivered one), so all were acknowledged. Only
-- the released entries at or past that bound (finished out of order) are deleted one by one.
-- A Redis user whose ACL refuses XTRIM gets the XDEL of every entry instead.

local function stream_id_before(a_ms, a_seq, b_ms, b_seq)
  return a_ms < b_ms or (a_ms == b_ms and a_seq < b_seq)
end

local function release_entries(stream, group, entries)
  call_batched('XACK', {stream, group}, entries)
  local ms_of, seq_of = {}, {}
  local top, top_ms, top_seq = nil, -1, -1
  for i, entry in ipairs(entries) do
    local ms, seq = split_stream_id(entry)
    ms_of[i], seq_of[i] = ms, seq
    if stream_id_before(top_ms, top_seq, ms, seq) then top, top_ms, top_seq = entry, ms, seq end
  end
  local bound_ms, bound_seq = top_ms, top_seq + 1
  local bound = string.match(top, '^%d+-') .. bound_seq
  local oldest = redis.call('XPENDING', stream, group)[2]
  if oldest then
    local ms, seq = split_stream_id(oldest)
    if stream_id_before(ms, seq, bound_ms, bound_seq) then
      bound, bound_ms, bound_seq = oldest, ms, seq
    end
  end
  local rest = entries
  if type(redis.pcall('XTRIM', stream, 'MINID', bound)) == 'number' then
    rest = {}
    for i, entry in ipairs(entries) do
      if not stream_id_before(ms_of[i], seq_of[i], bound_ms, bound_seq) then
        rest[#rest + 1] = entry
      end
    end
  end
  call_batched('XDEL', {stream}, rest)
end
