-- A worker hands an unfinished trial back (clean shutdown): NEW again, queued, attempt undone.
-- KEYS[1] = trial hash  KEYS[2] = running zset  KEYS[3] = queued zset
-- KEYS[4] = changes zset  KEYS[5] = seq counter
-- ARGV[1] = tid  ARGV[2] = owner  ARGV[3] = now (ms)
-- Returns 1 when released (the caller re-sends its task), 0 when not owned.
local damaged = hq_expect('hash', 'zset', 'zset', 'zset', 'counter')
if damaged then
  return damaged
end
if redis.call('HGET', KEYS[1], 'state') ~= '1' or redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 0, 'owner', '')
redis.call('HINCRBY', KEYS[1], 'attempts', -1)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
local seq = redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
return 1
