-- @return string
return ARGV[1]
