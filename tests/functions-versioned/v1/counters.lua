#!lua name=counters
-- Version 1 of a library that two deploys of one application share a
-- server with (functions = "versioned" in script-cache.toml).

--- Adds 1 to a counter and says which version ran.
-- @key counter the counter
-- @return array the version and the new value
redis.register_function('tick', function(keys)
  return {'v1', redis.call('INCRBY', keys[1], 1)}
end)

--- Which version runs.
-- @return string
redis.register_function{
  function_name = 'which',
  callback = function()
    return 'v1'
  end,
  flags = {'no-writes'},
}
