-- Write the final result of a running trial, once: only the lease owner may, and only while
-- the trial is RUNNING, so a late or duplicate worker's result is dropped.
-- KEYS[1] = trial hash  KEYS[2] = running zset  KEYS[3] = changes zset  KEYS[4] = seq counter
-- KEYS[5] = events stream  KEYS[6] = cancel set
-- ARGV[1] = tid  ARGV[2] = owner  ARGV[3] = final state (2 DONE, 3 ERROR, 4 CANCEL)
-- ARGV[4] = result (msgpack)  ARGV[5] = refresh time (msgpack)  ARGV[6] = error (msgpack or '')
-- Returns 1 when written, 0 when dropped.
local damaged = hq_expect('hash', 'zset', 'zset', 'counter', 'stream', 'set')
if damaged then
  return damaged
end
if redis.call('HGET', KEYS[1], 'state') ~= '1' or redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'result', ARGV[4], 'refresh_time', ARGV[5])
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'error', ARGV[6])
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[6], ARGV[1])
local seq = redis.call('INCR', KEYS[4])
redis.call('ZADD', KEYS[3], seq, ARGV[1])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', 100000, '*', 'tid', ARGV[1], 'state', ARGV[3])
return 1
