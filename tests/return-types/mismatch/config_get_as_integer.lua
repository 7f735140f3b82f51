-- @return integer
-- script-cache: allow(command-not-allowed)
return redis.call('CONFIG', 'GET', 'maxmemory')
