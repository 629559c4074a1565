-- Recover a trial whose lease expired (its worker died or was cut off): back to NEW and
-- queued, or ERROR once it has been claimed max_attempts times. Re-checks the deadline, so a
-- heartbeat that renewed the lease in the meantime wins. With an owner prefix (ARGV[7]) the
-- trial is recovered now, whatever its deadline, if its owner starts with that prefix: a
-- worker whose pool process died, or a runner that could not conclude its trial, hands it
-- back with the attempt counted. A trial whose state or attempts field is damaged becomes
-- ERROR with the reason ARGV[8] instead of staying RUNNING.
-- KEYS[1] = trial hash  KEYS[2] = running zset  KEYS[3] = queued zset
-- KEYS[4] = changes zset  KEYS[5] = seq counter  KEYS[6] = events stream
-- ARGV[1] = tid  ARGV[2] = now (ms)  ARGV[3] = max attempts  ARGV[4] = error (msgpack)
-- ARGV[5] = refresh time (msgpack)  ARGV[6] = result if it becomes ERROR (msgpack: the last
-- partial result marked failed with the reason)  ARGV[7] = owner prefix or ''
-- ARGV[8] = error if the hash is damaged (msgpack)  ARGV[9] = its result (msgpack)
-- Returns 1 requeued, 2 marked ERROR, 3 marked ERROR as damaged, 4 dropped from the running
-- set because the trial's key is not a hash, 0 nothing to do.
local damaged = hq_expect('-', 'zset', 'zset', 'zset', 'counter', 'stream')
if damaged then
  return damaged
end
local deadline = redis.call('ZSCORE', KEYS[2], ARGV[1])
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'hash' then
  if kind ~= 'none' and deadline then
    redis.call('ZREM', KEYS[2], ARGV[1])
    return 4
  end
  return 0
end
local state = redis.call('HGET', KEYS[1], 'state')
if ARGV[7] ~= '' then
  local owner = redis.call('HGET', KEYS[1], 'owner') or ''
  if state ~= '1' or string.sub(owner, 1, #ARGV[7]) ~= ARGV[7] then
    return 0
  end
elseif not deadline or tonumber(deadline) > tonumber(ARGV[2]) then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
local known = {['0'] = true, ['2'] = true, ['3'] = true, ['4'] = true}
if state ~= '1' and (known[state] or not state) then
  return 0
end
local seq = redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
if state ~= '1' or not attempts then
  redis.call('HSET', KEYS[1], 'state', 3, 'owner', '', 'error', ARGV[8], 'refresh_time', ARGV[5],
             'result', ARGV[9], 'attempts', math.floor(tonumber(ARGV[3])))
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', 100000, '*', 'tid', ARGV[1], 'state', 3)
  return 3
end
if attempts >= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'state', 3, 'owner', '', 'error', ARGV[4], 'refresh_time', ARGV[5],
             'result', ARGV[6])
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', 100000, '*', 'tid', ARGV[1], 'state', 3)
  return 2
end
redis.call('HSET', KEYS[1], 'state', 0, 'owner', '')
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
