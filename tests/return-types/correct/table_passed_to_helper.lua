-- @return status
local function mark(t)
  t.ok = 'MARKED'
end
local r = {}
mark(r)
return r
