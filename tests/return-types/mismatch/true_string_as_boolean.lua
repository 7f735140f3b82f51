-- @return boolean
return 'true'
