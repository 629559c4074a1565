-- A worker claims a NEW trial: RUNNING, owned, leased. Anything else is a duplicate delivery.
-- KEYS[1] = trial hash  KEYS[2] = running zset  KEYS[3] = queued zset
-- KEYS[4] = changes zset  KEYS[5] = seq counter
-- ARGV[1] = tid  ARGV[2] = owner  ARGV[3] = now (ms)  ARGV[4] = lease (ms)
-- ARGV[5] = book time (msgpack)
-- Returns {1, attempts, doc, result} when claimed, {0, state} otherwise (state -1: no trial).
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {0, -1}
end
if state ~= '0' then
  return {0, tonumber(state)}
end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', 1, 'owner', ARGV[2], 'book_time', ARGV[5],
           'refresh_time', ARGV[5])
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
local seq = redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
return {1, attempts, redis.call('HGET', KEYS[1], 'doc'), redis.call('HGET', KEYS[1], 'result')}
