-- Create a batch of NEW trials (a top-up's) at once; refuses to overwrite an existing tid.
-- KEYS[1] = tids zset  KEYS[2] = queued zset  KEYS[3] = changes zset  KEYS[4] = seq counter
-- KEYS[5..] = the trial hashes, in the order of the trials in ARGV
-- ARGV[1] = now (ms); then 4 per trial: tid, doc (msgpack), result (msgpack), state
-- (a NEW trial, state 0, is queued; another, e.g. one injected DONE, is not)
-- Returns one number per trial: its change number (> 0) if created, 0 if the tid existed.
-- One EXISTS, one INCRBY and one ZADD per sorted set for the batch, one HSET per trial.
-- Damaged keys are found by the writes themselves (hq_do), the trial hashes written last,
-- so a refused batch leaves at most change numbers taken and tids marked in `tids`/`changes`
-- with no trial behind them (readers skip those).
local n = #KEYS - 4
local out, fresh = {}, {}
for j = 1, n do
  out[j] = 0
end
if redis.call('EXISTS', unpack(KEYS, 5)) == 0 then
  for j = 1, n do
    fresh[j] = j
  end
else
  for j = 1, n do
    if redis.call('EXISTS', KEYS[4 + j]) == 0 then
      fresh[#fresh + 1] = j
    end
  end
end
if #fresh == 0 then
  return out
end
local last, err = hq_do(4, 'counter', 'INCRBY', #fresh)
if err then
  return err
end
local changes, tids, queued = {}, {}, {}
for k, j in ipairs(fresh) do
  local tid = ARGV[4 * j - 2]
  out[j] = last - #fresh + k
  changes[#changes + 1] = out[j]
  changes[#changes + 1] = tid
  tids[#tids + 1] = tid
  tids[#tids + 1] = tid
  if ARGV[4 * j + 1] == '0' then
    queued[#queued + 1] = ARGV[1]
    queued[#queued + 1] = tid
  end
end
local _
_, err = hq_do(3, 'zset', 'ZADD', unpack(changes))
if err then
  return err
end
_, err = hq_do(1, 'zset', 'ZADD', unpack(tids))
if err then
  return err
end
if #queued > 0 then
  _, err = hq_do(2, 'zset', 'ZADD', unpack(queued))
  if err then
    return err
  end
end
for _, j in ipairs(fresh) do
  redis.call('HSET', KEYS[4 + j], 'doc', ARGV[4 * j - 1], 'result', ARGV[4 * j],
             'state', ARGV[4 * j + 1], 'owner', '', 'attempts', 0)
end
return out
