-- The driver's lease on an experiment. ARGV[1] = token, ARGV[2] = ttl (ms),
-- ARGV[3] = 'renew' (keep or retake our lease), 'release' (delete it if ours) or
-- 'takeover' (take it from ARGV[4], a holder known to be dead, if it still holds it).
-- KEYS[1] = driver key
-- Returns 1 when the lease is (or was, for release) ours, 0 when another driver holds it.
local damaged = hq_expect('string')
if damaged then
  return damaged
end
local holder = redis.call('GET', KEYS[1])
if ARGV[3] == 'release' then
  if holder == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return 1
  end
  return 0
end
if ARGV[3] == 'takeover' then
  if holder == ARGV[4] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
  end
  return 0
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
