-- @return integer
return '42'
