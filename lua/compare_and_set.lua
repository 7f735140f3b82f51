--- Compare-and-set: sets the string at `key` to `new` only if it currently
--- holds `expected`. An empty `expected` also matches a missing key, so it
--- creates the key if absent. Like `SET`, a successful write clears the TTL.
-- @key key the string key
-- @arg expected the value the key must hold (empty: missing or empty)
-- @arg new the value to store
-- @return integer 1 when the value was set, 0 when the current value differed
local current = redis.call('GET', KEYS[1])
if current == false then
  current = ''
end
if current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
