#!lua flags=no-writes
--- Sums integer counters: the total of the values at all the given keys,
--- where a missing key counts as 0. Read-only, so it also runs on replicas
--- and with `EVALSHA_RO`. In a cluster, all keys must share one hash slot.
-- @key counters... the counter keys (any number)
-- @return integer the sum
local total = 0
for i = 1, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if value then
    local n = tonumber(value)
    if n == nil then
      return redis.error_reply('sum_counters: ' .. KEYS[i] .. ' does not hold a number')
    end
    total = total + n
  end
end
return total
