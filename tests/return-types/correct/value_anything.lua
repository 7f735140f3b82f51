-- @return value
if ARGV[1] == 'a' then
  return {1, 2}
end
return 'x'
