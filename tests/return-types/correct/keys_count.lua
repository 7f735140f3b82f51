-- @return integer
return #KEYS
