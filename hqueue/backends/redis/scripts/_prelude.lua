-- Prepended to every script by the store (not a script of its own).
-- hq_expect(type1, type2, ...): checks that KEYS[i] is absent or of type i ('-' skips a key;
-- 'counter' is a string holding an integer),
-- before the script writes anything; returns an error reply naming the first damaged key
-- ("HQDAMAGED <key> is a <type>, expected a <type>"), or nil.
local function hq_expect(...)
  local want = {...}
  for i, t in ipairs(want) do
    if t ~= '-' then
      local kind = redis.call('TYPE', KEYS[i])['ok']
      if t == 'counter' and kind == 'string' then
        if not tonumber(redis.call('GET', KEYS[i])) then
          return redis.error_reply('HQDAMAGED ' .. KEYS[i] .. ' holds no integer, expected a counter')
        end
        kind = t
      end
      if kind ~= 'none' and kind ~= t then
        return redis.error_reply('HQDAMAGED ' .. KEYS[i] .. ' is a ' .. kind .. ', expected a ' .. t)
      end
    end
  end
  return nil
end
