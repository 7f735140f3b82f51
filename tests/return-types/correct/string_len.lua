-- @return integer
return string.len(ARGV[1])
