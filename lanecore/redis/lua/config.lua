-- config: store this manager's lanes, or report the first disagreement with stored ones.
-- ARGV[2] overwrite ('1'/'0'), [3] global settings JSON, [4] global cap, [5] dlq size,
-- [6] n lanes, then per lane 10 fields: id, config JSON, priority, min, max,
-- tokens per ms (0: unlimited), bucket capacity, boost deadline ms (0: none),
-- boost steps ("before_ms:levels;..."), pressure threshold (0: none).
-- The config JSON holds every field (the pressure threshold included), so lanes that differ
-- in any of them are a mismatch. A lane stored for the first time gets 'ord', its place in
-- the order lanes were added to the namespace (ties of the min reservations, see step.lua).
-- Returns {'ok'} or {'mismatch', lane id ('' for the global settings), stored JSON}.
local FIELDS = 10
local overwrite = ARGV[2] == '1'
local n = tonumber(ARGV[6])
if not overwrite then
  local stored = redis.call('HGET', K_CONFIG, '')
  if stored and stored ~= ARGV[3] then return {'mismatch', '', stored} end
  for j = 0, n - 1 do
    local b = 7 + j * FIELDS
    stored = redis.call('HGET', K_CONFIG, ARGV[b])
    if stored and stored ~= ARGV[b + 1] then return {'mismatch', ARGV[b], stored} end
  end
end
local now = now_ms()
redis.call('HSET', K_CONFIG, '', ARGV[3])
redis.call('HSET', K_INFO, 'gcap', ARGV[4], 'dlqsize', ARGV[5])
for j = 0, n - 1 do
  local b = 7 + j * FIELDS
  local lane, lk = ARGV[b], lane_key(ARGV[b])
  local old = redis.call('HGET', K_CONFIG, lane)
  redis.call('HSET', K_CONFIG, lane, ARGV[b + 1])
  redis.call('ZADD', K_LANES, tonumber(ARGV[b + 2]), lane)
  redis.call('HSET', lk, 'pr', ARGV[b + 2], 'min', ARGV[b + 3], 'max', ARGV[b + 4],
    'rate', ARGV[b + 5], 'cap', ARGV[b + 6], 'bd', ARGV[b + 7], 'bs', ARGV[b + 8],
    'pt', ARGV[b + 9])
  redis.call('HSETNX', lk, 'act', 0)
  if redis.call('HEXISTS', lk, 'ord') == 0 then
    redis.call('HSET', lk, 'ord', redis.call('HINCRBY', K_INFO, 'lord', 1))
  end
  if old ~= ARGV[b + 1] or redis.call('HEXISTS', lk, 'tok') == 0 then
    redis.call('HSET', lk, 'tok', ARGV[b + 6], 'ts', now)
  end
  -- a lane stored without a threshold (now or by an overwriting manager) is never under
  -- pressure: drop a stale flag so a later threshold starts from a clean state
  if tonumber(ARGV[b + 9]) == 0 then redis.call('HDEL', lk, 'prs') end
end
wake()
return {'ok'}
