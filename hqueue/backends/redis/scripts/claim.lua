-- A worker claims a NEW trial: RUNNING, owned, leased. Anything else is a duplicate delivery.
-- KEYS[1] = trial hash  KEYS[2] = running zset  KEYS[3] = queued zset
-- KEYS[4] = changes zset  KEYS[5] = seq counter
-- ARGV[1] = tid  ARGV[2] = owner  ARGV[3] = now (ms)  ARGV[4] = lease (ms)
-- ARGV[5] = book time (msgpack)
-- Returns {1, attempts, fields} when claimed (fields: the claimed hash as HGETALL's flat
-- list), {0, state} otherwise (state -1: no trial, -2: a malformed trial, not a hash or with
-- a state that is not a number). A trial that is not NEW leaves the queued set, so the driver
-- stops re-sending it. Damaged keys are found by the writes themselves (hq_do), ordered so
-- that a failure leaves only a change number taken and the trial marked changed.
local _
local flat = redis.pcall('HGETALL', KEYS[1])
if flat.err then
  return {0, -2}
end
if #flat == 0 then
  return {0, -1}
end
local fields = {}
for i = 1, #flat, 2 do
  fields[flat[i]] = i + 1
end
local state = fields['state'] and flat[fields['state']]
local seq, added, err
if state ~= '0' then
  _, err = hq_do(3, 'zset', 'ZREM', ARGV[1])
  if err then
    return err
  end
  if not state or not tonumber(state) then
    return {0, -2}
  end
  return {0, tonumber(state)}
end
seq, err = hq_do(5, 'counter', 'INCR')
if err then
  return err
end
_, err = hq_do(4, 'zset', 'ZADD', seq, ARGV[1])
if err then
  return err
end
added, err = hq_do(2, 'zset', 'ZADD', tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[1])
if err then
  return err
end
if added == 1 then
  hq_undo('ZREM', KEYS[2], ARGV[1])
end
_, err = hq_do(3, 'zset', 'ZREM', ARGV[1])
if err then
  return err
end
-- attempts is rewritten rather than HINCRBY'd, so a damaged counter cannot fail every claim
local attempts = fields['attempts'] and flat[fields['attempts']]
attempts = math.floor(tonumber(attempts or '0') or 0) + 1
local now = {state = '1', owner = ARGV[2], book_time = ARGV[5], refresh_time = ARGV[5],
             attempts = tostring(attempts)}
redis.call('HSET', KEYS[1], 'state', 1, 'owner', ARGV[2], 'book_time', ARGV[5],
           'refresh_time', ARGV[5], 'attempts', attempts)
for name, value in pairs(now) do
  if fields[name] then
    flat[fields[name]] = value
  else
    flat[#flat + 1] = name
    flat[#flat + 1] = value
  end
end
return {1, attempts, flat}
