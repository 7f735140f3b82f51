-- @return status
local reply = {}
reply['ok'] = 'DONE'
return reply
