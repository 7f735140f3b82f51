-- @return string
return {}
