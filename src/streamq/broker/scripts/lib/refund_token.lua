-- parse_rsv(rsv): the numbers of a deferred job's `rsv`, "size:due:previous" (claim): the
-- token's size in units, the due time the job was given, and the bucket's `q` before it.
-- refund_token(bucket_base, rk, size, due, previous, now): give back the token held by a job
-- that its key's rate limit deferred, as the job is deleted (remove, drain). Only the key's latest reservation goes back (the bucket's `q` is its due, and its
-- `t` still below zero: no job of the key has started on a fresh token since), and only before
-- its due time. The bucket is then as if that job had never been deferred, and the one before
-- it is the latest (so deleting jobs latest first gives back a whole deferred backlog). An
-- earlier reservation is not given back, since a later job of the key would spend its token
-- beside the jobs deferred after it; nor one whose time has come, since the bucket has
-- refilled past it: either would let the key start more jobs than its limit. A missing bucket
-- is full. `now` is the caller's clock; one behind the workers' still gives back nothing once
-- a job of the key has started on a fresh token (docs/rate-limits.md).
local function parse_rsv(rsv)
  if not rsv then return nil end
  local size, due, previous = string.match(rsv, '^(%d+):(%d+):(%d+)$')
  if not size then return nil end  -- "1": deferred before `rsv` said more
  return tonumber(size), tonumber(due), tonumber(previous)
end

local function refund_token(bucket_base, rk, size, due, previous, now)
  if not rk or not size or due <= now then return end
  local bucket = bucket_base .. ':' .. rk
  local f = redis.call('HMGET', bucket, 't', 'q')
  local t = tonumber(f[1])
  if not t or t >= 0 or tonumber(f[2]) ~= due then return end
  redis.call('HSET', bucket, 't', t + size, 'q', previous)
end
