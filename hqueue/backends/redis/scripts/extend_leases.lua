-- After a Redis restart, give every running trial a fresh lease: its worker's heartbeats
-- failed while Redis was down, through no fault of the worker.
-- KEYS[1] = running zset   ARGV[1] = new deadline (ms)
-- Returns how many leases were extended.
local damaged = hq_expect('zset')
if damaged then
  return damaged
end
local tids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, tid in ipairs(tids) do
  redis.call('ZADD', KEYS[1], ARGV[1], tid)
end
return #tids
