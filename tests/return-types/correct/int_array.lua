-- @return array<integer>
return {1, 2, 3}
