-- @return nil-or-string
return {1, 2}
