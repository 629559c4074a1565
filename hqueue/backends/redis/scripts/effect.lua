-- The tids of one side effect of a trial (inject_results, enqueue), reserved once: the first
-- call for (trial, sequence number) takes fresh tids from the counter, a retry of the same
-- trial asking for the same sequence number gets the same tids back, so creating their
-- documents again is a no-op (create.lua refuses existing tids).
-- KEYS[1] = the trial's effects hash (sequence number -> "tid,tid,...")  KEYS[2] = tid counter
-- ARGV[1] = sequence number  ARGV[2] = how many tids
-- Returns {1 when reserved now / 0 when reserved before, tids as "first,...,last"}.
local damaged = hq_expect('hash', 'counter')
if damaged then
  return damaged
end
local known = redis.call('HGET', KEYS[1], ARGV[1])
if known then
  return {0, known}
end
local n = tonumber(ARGV[2])
local last = redis.call('INCRBY', KEYS[2], n)
local tids = {}
for t = last - n, last - 1 do
  tids[#tids + 1] = tostring(t)
end
local text = table.concat(tids, ',')
redis.call('HSET', KEYS[1], ARGV[1], text)
return {1, text}
