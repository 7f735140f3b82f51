-- @return integer
local t = {}
return #t
