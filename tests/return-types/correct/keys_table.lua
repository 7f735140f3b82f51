-- @return array<string>
return KEYS
