-- @return array<array<string>>
return {{'a'}, {'b', 'c'}}
