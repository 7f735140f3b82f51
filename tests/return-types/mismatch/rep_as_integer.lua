-- @return integer
return string.rep('x', 3)
