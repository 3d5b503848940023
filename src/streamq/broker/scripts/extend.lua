--[[ extend: renew the leases of a consumer's running jobs, checking ownership first.

KEYS[1..10]    ready streams for priorities 0..9
ARGV[1]        group name; ARGV[2] consumer name
ARGV[3]        n, the number of entries
ARGV[4 + 2k..] per entry: priority, entry id
Returns        {0, s1, ..., sn}: si = 1 renewed, 0 LEASE_LOST (reclaimed or removed)
XCLAIM ... JUSTID does not check the owner: a stale worker would take a reclaimed job
back. So each entry's owner is read with XPENDING first, and only its owner renews. ]]
local group, consumer = ARGV[1], ARGV[2]
local n = tonumber(ARGV[3])
local reply = {0}
for k = 0, n - 1 do
  local stream, entry = KEYS[1 + tonumber(ARGV[4 + 2 * k])], ARGV[5 + 2 * k]
  local owner = redis.call('XPENDING', stream, group, entry, entry, 1)
  if owner[1] and owner[1][2] == consumer then
    redis.call('XCLAIM', stream, group, consumer, 0, entry, 'JUSTID')
    reply[k + 2] = 1
  else
    reply[k + 2] = 0
  end
end
return reply
