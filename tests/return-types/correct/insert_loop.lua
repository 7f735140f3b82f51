-- @return array<string>
local t = {}
for _, k in ipairs(KEYS) do
  table.insert(t, k)
end
return t
