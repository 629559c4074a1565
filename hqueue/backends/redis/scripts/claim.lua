-- A worker claims a NEW trial: RUNNING, owned, leased. Anything else is a duplicate delivery.
-- KEYS[1] = trial hash  KEYS[2] = running zset  KEYS[3] = queued zset
-- KEYS[4] = changes zset  KEYS[5] = seq counter
-- ARGV[1] = tid  ARGV[2] = owner  ARGV[3] = now (ms)  ARGV[4] = lease (ms)
-- ARGV[5] = book time (msgpack)
-- Returns {1, attempts, fields} when claimed (fields: the claimed hash as HGETALL's flat
-- list), {0, state} otherwise (state -1: no trial, -2: a malformed trial, not a hash or with
-- a state that is not a number). A trial that is not NEW leaves the queued set, so the driver
-- stops re-sending it.
local damaged = hq_expect('-', 'zset', 'zset', 'zset', 'counter')
if damaged then
  return damaged
end
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then
  return {0, -1}
end
if kind ~= 'hash' then
  return {0, -2}
end
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= '0' then
  redis.call('ZREM', KEYS[3], ARGV[1])
  if not state or not tonumber(state) then
    return {0, -2}
  end
  return {0, tonumber(state)}
end
-- attempts is rewritten rather than HINCRBY'd, so a damaged counter cannot fail every claim
local attempts = math.floor(tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') or 0) + 1
redis.call('HSET', KEYS[1], 'state', 1, 'owner', ARGV[2], 'book_time', ARGV[5],
           'refresh_time', ARGV[5], 'attempts', attempts)
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
local seq = redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
return {1, attempts, redis.call('HGETALL', KEYS[1])}
