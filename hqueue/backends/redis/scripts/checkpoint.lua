-- Store a partial result of a running trial (only its owner may).
-- KEYS[1] = trial hash  KEYS[2] = changes zset  KEYS[3] = seq counter
-- ARGV[1] = tid  ARGV[2] = owner  ARGV[3] = result (msgpack)  ARGV[4] = refresh time (msgpack)
-- Returns 1 when stored, 0 when the caller no longer owns the trial.
local damaged = hq_expect('hash', 'zset', 'counter')
if damaged then
  return damaged
end
if redis.call('HGET', KEYS[1], 'state') ~= '1' or redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'result', ARGV[3], 'refresh_time', ARGV[4])
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
return 1
