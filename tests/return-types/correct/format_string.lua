-- @return string
return string.format('%s:%d', KEYS[1], 1)
