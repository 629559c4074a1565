-- Renew the lease of a trial the caller still owns.
-- KEYS[1] = trial hash  KEYS[2] = running zset  KEYS[3] = cancel set
-- ARGV[1] = tid  ARGV[2] = owner  ARGV[3] = now (ms)  ARGV[4] = lease (ms)
-- Returns {1, cancel requested (0/1)} while owned, {0, 0} once the lease is lost.
local damaged = hq_expect('hash', 'zset', 'set')
if damaged then
  return damaged
end
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= '1' or redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then
  return {0, 0}
end
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[1])
return {1, redis.call('SISMEMBER', KEYS[3], ARGV[1])}
