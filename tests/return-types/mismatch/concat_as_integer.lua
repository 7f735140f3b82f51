-- @return integer
return KEYS[1] .. ':count'
