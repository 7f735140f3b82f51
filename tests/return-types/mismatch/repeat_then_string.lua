-- @return integer
local n = 0
repeat
  n = n + 1
until n > 3
if n > 3 then
  return 'done'
end
return n
