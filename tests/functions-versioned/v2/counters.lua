#!lua name=counters
-- Version 2 of a library that two deploys of one application share a
-- server with (functions = "versioned" in script-cache.toml).

--- Adds 10 to a counter and says which version ran.
-- @key counter the counter
-- @return array the version and the new value
redis.register_function('tick', function(keys)
  return {'v2', redis.call('INCRBY', keys[1], 10)}
end)

--- Which version runs.
-- @return string
redis.register_function{
  function_name = 'which',
  callback = function()
    return 'v2'
  end,
  flags = {'no-writes'},
}
