-- config: store this manager's lanes, or report the first disagreement with stored ones.
-- ARGV[2] overwrite ('1'/'0'), [3] global settings JSON, [4] global cap, [5] dlq size,
-- [6] n lanes, then per lane 9 fields: id, config JSON, priority, min, max,
-- tokens per ms (0: unlimited), bucket capacity, boost deadline ms (0: none),
-- boost steps ("before_ms:levels;...").
-- Returns {'ok'} or {'mismatch', lane id ('' for the global settings), stored JSON}.
local overwrite = ARGV[2] == '1'
local n = tonumber(ARGV[6])
if not overwrite then
  local stored = redis.call('HGET', K_CONFIG, '')
  if stored and stored ~= ARGV[3] then return {'mismatch', '', stored} end
  for j = 0, n - 1 do
    local b = 7 + j * 9
    stored = redis.call('HGET', K_CONFIG, ARGV[b])
    if stored and stored ~= ARGV[b + 1] then return {'mismatch', ARGV[b], stored} end
  end
end
local now = now_ms()
redis.call('HSET', K_CONFIG, '', ARGV[3])
redis.call('HSET', K_INFO, 'gcap', ARGV[4], 'dlqsize', ARGV[5])
for j = 0, n - 1 do
  local b = 7 + j * 9
  local lane, lk = ARGV[b], lane_key(ARGV[b])
  local old = redis.call('HGET', K_CONFIG, lane)
  redis.call('HSET', K_CONFIG, lane, ARGV[b + 1])
  redis.call('ZADD', K_LANES, tonumber(ARGV[b + 2]), lane)
  redis.call('HSET', lk, 'pr', ARGV[b + 2], 'min', ARGV[b + 3], 'max', ARGV[b + 4],
    'rate', ARGV[b + 5], 'cap', ARGV[b + 6], 'bd', ARGV[b + 7], 'bs', ARGV[b + 8])
  redis.call('HSETNX', lk, 'act', 0)
  if old ~= ARGV[b + 1] or redis.call('HEXISTS', lk, 'tok') == 0 then
    redis.call('HSET', lk, 'tok', ARGV[b + 6], 'ts', now)
  end
end
wake()
return {'ok'}
