-- @return integer
local n = 0
while true do
  n = n + 1
  if n > 5 then
    break
  end
end
return n
