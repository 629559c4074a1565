-- Record one ctrl.report: the running trial's partial result (a checkpoint, when an owner is
-- given), the point on its learning curve, and its value at each pruner rung it reached;
-- return a few order statistics of each rung, read atomically with the write (O(log n) per
-- rung, however many trials recorded there). One round trip per report on a worker.
-- KEYS[1] = trial hash  KEYS[2] = changes zset  KEYS[3] = seq counter (only with an owner)
-- KEYS[4] = curve hash of the trial  KEYS[5..n] = rung sorted sets (member tid, score value)
-- ARGV[1] = tid  ARGV[2] = step  ARGV[3] = value for the curve (a float's repr, 'nan' kept)
-- ARGV[4] = max curve points  ARGV[5] = value for the rungs (NaN sent as 'inf')
-- ARGV[6] = percentile (0-100) of the other trials' values to bracket
-- ARGV[7] = owner ('' = no checkpoint)  ARGV[8] = result (msgpack)  ARGV[9] = refresh time
-- Checkpoint: as checkpoint.lua (only the owner of a running trial may); when refused, nothing
-- else is written either (the trial is no longer this worker's; its retry reports again).
-- Curve: a repeated step overwrites its value; a new step beyond the cap is dropped.
-- Rungs: ZADD NX, so the first value a trial recorded at a rung stays (a retry counts once).
-- Returns {checkpoint stored (1/0; 1 without an owner), curve point kept (0/1),
-- {own, n_others, n_better, lower, upper} per rung}, where n_better counts others strictly
-- below own, and lower/upper are the others' order statistics at
-- floor/ceil(percentile / 100 * (n_others - 1)) ('nan' with no others).
if ARGV[7] ~= '' then
  local damaged = hq_expect('hash', 'zset', 'counter', 'hash')
  if damaged then
    return damaged
  end
  if redis.call('HGET', KEYS[1], 'state') ~= '1' or redis.call('HGET', KEYS[1], 'owner') ~= ARGV[7] then
    return {0, 0}
  end
  redis.call('HSET', KEYS[1], 'result', ARGV[8], 'refresh_time', ARGV[9])
  local seq = redis.call('INCR', KEYS[3])
  redis.call('ZADD', KEYS[2], seq, ARGV[1])
end
local kept = 1
if redis.call('HGET', KEYS[4], ARGV[2])
    or redis.call('HLEN', KEYS[4]) < tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
else
  kept = 0
end
local out = {1, kept}
local q = tonumber(ARGV[6])
for i = 5, #KEYS do
  local key = KEYS[i]
  redis.call('ZADD', key, 'NX', ARGV[5], ARGV[1])
  local own = redis.call('ZSCORE', key, ARGV[1])
  local others = redis.call('ZCARD', key) - 1
  local better = redis.call('ZCOUNT', key, '-inf', '(' .. own)
  local lower, upper = 'nan', 'nan'
  if others > 0 then
    -- the others' i-th value is the set's i-th below own's score and its (i+1)-th from there
    -- on (own sits in the block of scores equal to its own, so which slot it has is moot)
    local p = q / 100.0 * (others - 1)
    local lo, hi = math.floor(p), math.ceil(p)
    if lo >= better then lo = lo + 1 end
    if hi >= better then hi = hi + 1 end
    lower = redis.call('ZRANGE', key, lo, lo, 'WITHSCORES')[2]
    upper = redis.call('ZRANGE', key, hi, hi, 'WITHSCORES')[2]
  end
  out[i - 2] = {own, others, better, lower, upper}
end
return out
