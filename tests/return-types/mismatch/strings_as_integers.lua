-- @return array<integer>
return {'a', 'b'}
