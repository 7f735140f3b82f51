-- @return array<string>
return redis.status_reply('QUEUED')
