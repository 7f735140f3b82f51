-- @return array
return {ok = 'DONE'}
