-- @return integer
return math.floor(tonumber(ARGV[1]) / 2)
