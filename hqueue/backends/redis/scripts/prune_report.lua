-- Record one ctrl.report: the point on the trial's learning curve and the trial's value at
-- each pruner rung it reached; return every rung's records, read atomically with the write.
-- KEYS[1] = curve hash of the trial  KEYS[2..n] = rung hashes
-- ARGV[1] = tid  ARGV[2] = step  ARGV[3] = value (a float's repr)  ARGV[4] = max curve points
-- Curve: a repeated step overwrites its value; a new step beyond the cap is dropped.
-- Rungs: HSETNX, so the first value a trial recorded at a rung stays (a retry counts once).
-- Returns {curve point kept (0/1), {tid, value, tid, value, ...} per rung in KEYS order}.
local kept = 1
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1
    or redis.call('HLEN', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
else
  kept = 0
end
local out = {kept}
for i = 2, #KEYS do
  redis.call('HSETNX', KEYS[i], ARGV[1], ARGV[3])
  out[i] = redis.call('HGETALL', KEYS[i])
end
return out
