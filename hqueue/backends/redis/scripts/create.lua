-- Create one NEW trial; refuses to overwrite an existing tid.
-- KEYS[1] = trial hash   KEYS[2] = tids zset   KEYS[3] = queued zset
-- KEYS[4] = changes zset KEYS[5] = seq counter
-- ARGV[1] = tid  ARGV[2] = doc (msgpack)  ARGV[3] = result (msgpack)  ARGV[4] = state
-- ARGV[5] = now (ms)  ARGV[6] = queue it (1) or not (0, e.g. already DONE when injected)
-- Returns the change number of the creation (> 0) if created, 0 if the tid already existed.
local damaged = hq_expect('-', 'zset', 'zset', 'zset', 'counter')
if damaged then
  return damaged
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'result', ARGV[3], 'state', ARGV[4],
           'owner', '', 'attempts', 0)
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1])
if ARGV[6] == '1' then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
end
local seq = redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
return seq
