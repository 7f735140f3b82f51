#!lua name=counters
-- A function library (Redis 7.0+, Valkey): loaded with FUNCTION LOAD,
-- its functions called with FCALL / FCALL_RO.

--- Adds `by` to a counter.
-- @key counter the counter
-- @arg by how much to add
-- @return integer the new value
redis.register_function('bump', function(keys, args)
  return redis.call('INCRBY', keys[1], args[1])
end)

--- Reads a counter.
-- @key counter the counter
-- @return nil-or-string its value, nil when unset
redis.register_function{
  function_name = 'peek',
  callback = function(keys)
    return redis.call('GET', keys[1])
  end,
  flags = {'no-writes'},
}

--- Which build of the library runs: the tests compare it with what a
--- hand-loaded copy of the same name answers.
-- @return string
redis.register_function('counters_version', function()
  return 'binary'
end)

--- Always refuses: the tests read its error.
-- @return integer
redis.register_function('refuse', function()
  return redis.error_reply('NOPE refused by the function')
end)

-- No header: the parameters are inferred from `k[1]`, `k[2]` and `a[1]`.
local function move(k, a)
  local n = tonumber(a[1])
  redis.call('DECRBY', k[1], n)
  return redis.call('INCRBY', k[2], n)
end
redis.register_function('move_by', move)
