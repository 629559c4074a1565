-- Replace or delete one attachment atomically, reporting the chunked value it replaced (the
-- caller deletes that value's chunks after the switch, so a reader never loses the chunks of
-- the manifest it is following to anything but a newer value).
-- KEYS[1] = the attachment's key: a string (a value of at most one chunk) or a hash (the
--           manifest of a chunked value: version, chunks, size)
-- KEYS[2..] = mode "chunked": the new value's chunk keys, in order (made persistent here)
-- ARGV[1] = mode: "inline" (SET the value), "chunked" (write the manifest) or "delete"
-- ARGV[2] = inline: the value; chunked: the new version id
-- ARGV[3] = chunked: the value's size in bytes
-- Returns {existed (1/0; -1 when a chunk of the new value is missing: nothing changed),
--          version of the replaced chunked value or '', its number of chunks or 0}.
if ARGV[1] == 'chunked' and #KEYS > 1 then
  local present = redis.call('EXISTS', unpack(KEYS, 2))
  if present ~= #KEYS - 1 then
    return {-1, '', 0}
  end
end
local kind = redis.call('TYPE', KEYS[1])['ok']
local old_version, old_n = '', 0
if kind == 'hash' then
  old_version = redis.call('HGET', KEYS[1], 'version') or ''
  old_n = tonumber(redis.call('HGET', KEYS[1], 'chunks') or '0') or 0
end
local existed = 0
if kind ~= 'none' then
  existed = 1
end
if ARGV[1] == 'inline' then
  redis.call('SET', KEYS[1], ARGV[2])
elseif ARGV[1] == 'chunked' then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'version', ARGV[2], 'chunks', #KEYS - 1, 'size', ARGV[3])
  for i = 2, #KEYS do
    redis.call('PERSIST', KEYS[i])
  end
else
  redis.call('DEL', KEYS[1])
end
return {existed, old_version, old_n}
