-- Recover a trial whose lease expired (its worker died or was cut off): back to NEW and
-- queued, or ERROR once it has been claimed max_attempts times. Re-checks the deadline, so a
-- heartbeat that renewed the lease in the meantime wins.
-- KEYS[1] = trial hash  KEYS[2] = running zset  KEYS[3] = queued zset
-- KEYS[4] = changes zset  KEYS[5] = seq counter  KEYS[6] = events stream
-- ARGV[1] = tid  ARGV[2] = now (ms)  ARGV[3] = max attempts  ARGV[4] = error (msgpack)
-- ARGV[5] = refresh time (msgpack)  ARGV[6] = result if it becomes ERROR (msgpack: the last
-- partial result marked failed with the reason)
-- Returns 1 requeued, 2 marked ERROR, 0 nothing to do.
local deadline = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not deadline or tonumber(deadline) > tonumber(ARGV[2]) then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], 'state') ~= '1' then
  return 0
end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
local seq = redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
if attempts >= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'state', 3, 'owner', '', 'error', ARGV[4], 'refresh_time', ARGV[5],
             'result', ARGV[6])
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', 100000, '*', 'tid', ARGV[1], 'state', 3)
  return 2
end
redis.call('HSET', KEYS[1], 'state', 0, 'owner', '')
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
