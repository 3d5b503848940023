-- A job held in its stream entry is found through the index hash: job id -> its place,
-- "<priority><entry ms, base 36>-<entry sequence, base 36>" (e.g. "5lp0sv9c0-0"). Base 36
-- keeps the value under 15 bytes, the smallest allocation for it: 8 bytes a job less than
-- the entry id in decimal.
local BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz'

local function base36(n)
  local s = ''
  repeat
    local d = n % 36
    s = string.sub(BASE36, d + 1, d + 1) .. s
    n = (n - d) / 36
  until n == 0
  return s
end

-- place(prio, entry): the index value of the job held in `entry` of priority `prio`'s stream.
local function place(prio, entry)
  local ms, seq = string.match(entry, '^(%d+)-(%d+)$')
  return prio .. base36(tonumber(ms)) .. '-' .. base36(tonumber(seq))
end

-- unplace(value): the priority and entry id an index value names.
local function unplace(value)
  local prio, ms, seq = string.match(value, '^(%d)(%w+)-(%w+)$')
  return tonumber(prio),
    string.format('%.0f', tonumber(ms, 36)) .. '-' .. string.format('%.0f', tonumber(seq, 36))
end
