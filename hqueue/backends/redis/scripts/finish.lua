-- Write the final result of a running trial, once: only the lease owner may, and only while
-- the trial is RUNNING, so a late or duplicate worker's result is dropped.
-- KEYS[1] = trial hash  KEYS[2] = running zset  KEYS[3] = changes zset  KEYS[4] = seq counter
-- KEYS[5] = events stream
-- ARGV[1] = tid  ARGV[2] = owner  ARGV[3] = final state (2 DONE, 3 ERROR, 4 CANCEL)
-- ARGV[4] = result (msgpack)  ARGV[5] = refresh time (msgpack)  ARGV[6] = error (msgpack or '')
-- Returns 1 when written, 0 when dropped. Damaged keys are found by the writes themselves
-- (hq_do): the event is undone if a later write fails, and the trial's hash, the change
-- that matters, is written last (a stop request, its `cancel` field, stays: the trial is
-- final).
local _, err
local held
held, err = hq_do(1, 'hash', 'HMGET', 'state', 'owner')
if err then
  return err
end
local state, owner = held[1], held[2]
if state ~= '1' or owner ~= ARGV[2] then
  return 0
end
local seq
seq, err = hq_do(4, 'counter', 'INCR')
if err then
  return err
end
_, err = hq_do(3, 'zset', 'ZADD', seq, ARGV[1])
if err then
  return err
end
local id
id, err = hq_do(5, 'stream', 'XADD', 'MAXLEN', '~', 100000, '*', 'tid', ARGV[1],
                'state', ARGV[3])
if err then
  return err
end
hq_undo('XDEL', KEYS[5], id)
_, err = hq_do(2, 'zset', 'ZREM', ARGV[1])
if err then
  return err
end
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'state', ARGV[3], 'result', ARGV[4], 'refresh_time', ARGV[5],
             'error', ARGV[6])
else
  redis.call('HSET', KEYS[1], 'state', ARGV[3], 'result', ARGV[4], 'refresh_time', ARGV[5])
end
return 1
