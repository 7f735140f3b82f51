-- @return status
return {'OK'}
