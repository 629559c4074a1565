-- Put an ERROR or CANCEL trial back in the queue: NEW again with a fresh result, its error,
-- times, owner, attempts and stop request cleared (a person asked for another try: `hqueue requeue`).
-- KEYS[1] = trial hash  KEYS[2] = queued zset  KEYS[3] = running zset
-- KEYS[4] = changes zset  KEYS[5] = seq counter
-- ARGV[1] = tid  ARGV[2] = now (ms)  ARGV[3] = states it may leave, e.g. ",3,4,"
-- ARGV[4] = the new result (msgpack of {"status": "new"})
-- Returns 1 when requeued (the caller sends its task), 0 when not in one of those states.
local damaged = hq_expect('hash', 'zset', 'zset', 'zset', 'counter')
if damaged then
  return damaged
end
local state = redis.call('HGET', KEYS[1], 'state')
if not state or not string.find(ARGV[3], ',' .. state .. ',', 1, true) then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 0, 'owner', '', 'attempts', 0, 'result', ARGV[4])
redis.call('HDEL', KEYS[1], 'error', 'book_time', 'refresh_time', 'cancel')
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
local seq = redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
return 1
