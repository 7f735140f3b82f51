-- @return array<array<string>>
return {1, 2}
