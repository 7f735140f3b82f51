-- @return integer
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    return i
  end
end
return 0
