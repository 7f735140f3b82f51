-- @return string
return KEYS[1] .. ':x'
