-- Make the tid counter at least ARGV[1] (after a crash lost its last increments, the driver
-- knows tids Redis no longer does: never hand those out again).
-- KEYS[1] = tid counter   ARGV[1] = lowest allowed value
-- Returns the counter's value.
local damaged = hq_expect('counter')
if damaged then
  return damaged
end
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
  return tonumber(ARGV[1])
end
return current
