-- Put back the final result of a trial that Redis lost after a crash (its state went back to
-- NEW or RUNNING) from the driver's copy. A trial already final in Redis is left alone, so a
-- result is still written once; a worker now running it finds it no longer RUNNING and its
-- late result is dropped.
-- KEYS[1] = trial hash  KEYS[2] = running zset  KEYS[3] = queued zset  KEYS[4] = changes zset
-- KEYS[5] = seq counter  KEYS[6] = events stream
-- ARGV[1] = tid  ARGV[2] = final state  ARGV[3] = result (msgpack)
-- ARGV[4] = refresh time (msgpack or '')  ARGV[5] = error (msgpack or '')
-- Returns 1 when restored, 0 when left alone.
local damaged = hq_expect('hash', 'zset', 'zset', 'zset', 'counter', 'stream')
if damaged then
  return damaged
end
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= '0' and state ~= '1' then
  return 0
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'result', ARGV[3], 'owner', '')
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'refresh_time', ARGV[4])
end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'error', ARGV[5])
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
local seq = redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
redis.call('XADD', KEYS[6], 'MAXLEN', '~', 100000, '*', 'tid', ARGV[1], 'state', ARGV[2])
return 1
