-- Put RUNNING trials that are missing from the running set back in it, so the lease reaper
-- finds them (a set damaged or trimmed by hand; a live worker's heartbeat re-adds its own).
-- KEYS[1] = running zset  KEYS[2..] = trial hashes of the tids in ARGV[2..], in order
-- ARGV[1] = deadline to give them (ms)  ARGV[2..] = tids the caller believes RUNNING
-- Returns the tids put back.
local damaged = hq_expect('zset')
if damaged then
  return damaged
end
local adopted = {}
for i = 2, #KEYS do
  local tid = ARGV[i]
  if redis.call('TYPE', KEYS[i])['ok'] == 'hash' and redis.call('HGET', KEYS[i], 'state') == '1'
      and not redis.call('ZSCORE', KEYS[1], tid) then
    redis.call('ZADD', KEYS[1], ARGV[1], tid)
    adopted[#adopted + 1] = tid
  end
end
return adopted
