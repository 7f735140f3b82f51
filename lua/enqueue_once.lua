--- Idempotent enqueue: pushes `job` onto the list `queue` unless a job with
--- the same `id` was enqueued before, so a producer may retry safely after a
--- timeout. The ids are remembered in the set `seen`; in a cluster, give
--- both keys the same hash tag (e.g. `{jobs}:seen` and `{jobs}:queue`).
-- @key seen set of the ids already enqueued
-- @key queue list the job is pushed onto (LPUSH; consume with RPOP or BRPOP)
-- @arg id the job's unique id
-- @arg job the job payload
-- @return integer the queue length after the push, or 0 when `id` was a duplicate
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then
  return 0
end
return redis.call('LPUSH', KEYS[2], ARGV[2])
