-- Prepended to every script by the store (not a script of its own). Two ways to refuse a
-- damaged key (a key of the wrong type, a counter holding no integer) with an error reply
-- naming it ("HQDAMAGED <key> is a <type>, expected a <type>"), never half-applying a change:
--
-- hq_expect(type1, type2, ...): checks up front that KEYS[i] is absent or of type i ('-'
-- skips a key; 'counter' is a string holding an integer); returns the error reply or nil.
-- One TYPE per key: for the scripts that run rarely (cancel, expire, requeue, ...).
--
-- hq_do(i, want, cmd, ...): runs `cmd KEYS[i] ...` (redis.pcall) and returns its reply, or
-- nil and the error reply when it failed; before returning the error it runs, newest first,
-- the undo commands recorded so far with hq_undo(cmd, ...), so the writes the script made
-- before the failing one are reverted. No extra command while the keys are sound: for the
-- scripts every trial runs (create, claim, heartbeat, finish), which order their writes so
-- that the ones left in place on a failure are harmless (a change number taken, a trial
-- marked changed: readers read it again and find it as it was).
local function hq_damaged(i, want, err)
  local kind = redis.call('TYPE', KEYS[i])['ok']
  if want == 'counter' and kind == 'string' then
    if not tonumber(redis.call('GET', KEYS[i])) then
      return redis.error_reply('HQDAMAGED ' .. KEYS[i] .. ' holds no integer, expected a counter')
    end
    kind = want
  end
  if kind ~= 'none' and kind ~= want then
    return redis.error_reply('HQDAMAGED ' .. KEYS[i] .. ' is a ' .. kind .. ', expected a ' .. want)
  end
  return err
end

local function hq_expect(...)
  local want = {...}
  for i, t in ipairs(want) do
    if t ~= '-' then
      local damaged = hq_damaged(i, t, nil)
      if damaged then
        return damaged
      end
    end
  end
  return nil
end

local hq_undos = {}
local function hq_undo(...)
  hq_undos[#hq_undos + 1] = {...}
end

local function hq_do(i, want, cmd, ...)
  local reply = redis.pcall(cmd, KEYS[i], ...)
  if type(reply) == 'table' and reply.err then
    for j = #hq_undos, 1, -1 do
      redis.call(unpack(hq_undos[j]))
    end
    return nil, hq_damaged(i, want, redis.error_reply(reply.err))
  end
  return reply
end
