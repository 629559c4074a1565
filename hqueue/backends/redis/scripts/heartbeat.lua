-- Renew the lease of a trial the caller still owns.
-- KEYS[1] = trial hash  KEYS[2] = running zset
-- ARGV[1] = tid  ARGV[2] = owner  ARGV[3] = now (ms)  ARGV[4] = lease (ms)
-- Returns {1, cancel requested (0/1): the hash's `cancel` field} while owned, {0, 0} once
-- the lease is lost. Damaged keys are found by the commands themselves (hq_do).
local held, err
held, err = hq_do(1, 'hash', 'HMGET', 'state', 'owner', 'cancel')
if err then
  return err
end
local state, owner = held[1], held[2]
if state ~= '1' or owner ~= ARGV[2] then
  return {0, 0}
end
local _
_, err = hq_do(2, 'zset', 'ZADD', tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[1])
if err then
  return err
end
if held[3] == '1' then
  return {1, 1}
end
return {1, 0}
