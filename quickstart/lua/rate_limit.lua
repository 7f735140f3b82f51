--- Token-bucket rate limit.
---
--- The bucket at `bucket` holds up to `capacity` tokens and refills at
--- `refill_per_sec` tokens per second, measured with the caller's clock
--- (`now_ms`), so every client must use the same time source. Taking `cost`
--- tokens succeeds when that many are left. The bucket expires once it would
--- be full again, so idle buckets cost no memory.
-- @key bucket hash holding the bucket state (fields `tokens` and `ts`)
-- @arg capacity maximum number of tokens (> 0)
-- @arg refill_per_sec tokens added per second (> 0)
-- @arg now_ms current time in milliseconds
-- @arg cost tokens to take (>= 0)
-- @return integer tokens left after taking `cost`, or -1 when refused
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
if not capacity or not rate or not now or not cost
  or capacity <= 0 or rate <= 0 or cost < 0 then
  return redis.error_reply('rate_limit: capacity and refill_per_sec must be > 0, '
    .. 'now_ms a number and cost >= 0')
end

local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate / 1000)
  ts = now
end

local left = -1
if tokens >= cost then
  tokens = tokens - cost
  left = math.floor(tokens)
end

redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
local ttl = math.ceil((capacity - tokens) * 1000 / rate)
if ttl < 1 then
  ttl = 1
end
redis.call('PEXPIRE', KEYS[1], ttl)
return left
