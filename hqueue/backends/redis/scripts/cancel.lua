-- Cancel a trial: a NEW one becomes CANCEL at once; a RUNNING one is asked to stop: the flag
-- (field `cancel` of its hash) its worker's heartbeat reads, and a message on the stop
-- channel that makes the worker beat at once (a message refused, e.g. by an ACL, leaves the
-- flag to the next heartbeat).
-- KEYS[1] = trial hash  KEYS[2] = queued zset  KEYS[3] = changes zset  KEYS[4] = seq counter
-- KEYS[5] = events stream
-- ARGV[1] = tid  ARGV[2] = result (msgpack)  ARGV[3] = refresh time (msgpack)
-- ARGV[4] = stop channel  ARGV[5] = stop message ("<tid>:<exp>")
-- Returns 1 cancelled, 2 stop requested, 0 already finished or unknown.
local damaged = hq_expect('hash', 'zset', 'zset', 'counter', 'stream')
if damaged then
  return damaged
end
local state = redis.call('HGET', KEYS[1], 'state')
if state == '0' then
  redis.call('HSET', KEYS[1], 'state', 4, 'result', ARGV[2], 'refresh_time', ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[1])
  local seq = redis.call('INCR', KEYS[4])
  redis.call('ZADD', KEYS[3], seq, ARGV[1])
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', 100000, '*', 'tid', ARGV[1], 'state', 4)
  return 1
end
if state == '1' then
  redis.call('HSET', KEYS[1], 'cancel', 1)
  redis.pcall('PUBLISH', ARGV[4], ARGV[5])
  return 2
end
return 0
