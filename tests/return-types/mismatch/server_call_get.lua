-- @return integer
-- script-cache: allow(server-support)
return server.call('GET', KEYS[1])
