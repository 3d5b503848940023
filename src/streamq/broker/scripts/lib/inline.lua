-- A job enqueued to run now has no hash until it starts: it lives in its stream entry alone,
-- whose fields are id, name, data, max, enq, then opts and rk when set. The index hash maps
-- the job id to its place (lib/place); an entry is the job's only while the index says so.
-- An entry holding only the id belongs to a job with a hash (promoted, retried, requeued).

-- entry_fields(stream, entry): the entry's field list, or nil if the entry was deleted.
local function entry_fields(stream, entry)
  local found = redis.call('XRANGE', stream, entry, entry)
  if found[1] then return found[1][2] end
  return nil
end

-- inline_job(fields): the job an entry holds, as a table, or nil for an id-only entry.
-- Entries are written in one order (write_job, inline_requeue); any other is read field
-- by field.
local function inline_job(fields)
  if #fields <= 2 then return nil end
  local job
  if fields[3] == 'name' and fields[5] == 'data' and fields[7] == 'max' and fields[9] == 'enq'
      and fields[1] == 'id' then
    job = {id = fields[2], name = fields[4], data = fields[6], max = fields[8],
           enq = fields[10]}
    for i = 11, #fields, 2 do job[fields[i]] = fields[i + 1] end
  else
    job = {}
    for i = 1, #fields, 2 do job[fields[i]] = fields[i + 1] end
  end
  return job
end

local function inline_current(index, job, prio, entry)
  return redis.call('HGET', index, job.id) == place(prio, entry)
end

-- inline_requeue(index, stream, prio, job): the job in a new entry at the stream's tail,
-- and the index pointing there. The caller deletes the old entry.
local function inline_requeue(index, stream, prio, job)
  local args = {'id', job.id, 'name', job.name, 'data', job.data, 'max', job.max,
    'enq', job.enq}
  if job.opts then args[#args + 1], args[#args + 2] = 'opts', job.opts end
  if job.rk then args[#args + 1], args[#args + 2] = 'rk', job.rk end
  local entry = redis.call('XADD', stream, '*', unpack(args))
  redis.call('HSET', index, job.id, place(prio, entry))
end

-- inline_to_hash(key, prio, job, ...): give the job its hash, holding the entry's fields
-- and the field/value pairs given after `job`. The caller takes the job out of the index.
local function inline_to_hash(key, prio, job, ...)
  if not job.opts and not job.rk then  -- most jobs: no table to build and unpack
    redis.call('HSET', key, 'name', job.name, 'data', job.data, 'max', job.max,
      'prio', PRIORITY_TEXT[prio], 'enq', job.enq, ...)
    return
  end
  local args = {'name', job.name, 'data', job.data, 'max', job.max, 'prio', PRIORITY_TEXT[prio],
    'enq', job.enq, ...}
  if job.opts then args[#args + 1], args[#args + 2] = 'opts', job.opts end
  if job.rk then args[#args + 1], args[#args + 2] = 'rk', job.rk end
  redis.call('HSET', key, unpack(args))
end
