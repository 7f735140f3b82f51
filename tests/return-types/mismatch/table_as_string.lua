-- @return string
return {ARGV[1], ARGV[2]}
