-- config: store this manager's lanes, or report the first disagreement with stored ones.
-- ARGV[2] overwrite ('1'/'0'), [3] global settings JSON, [4] global cap, [5] dlq size,
-- [6] n lanes, then per lane the LANE_FIELDS fields of store_lane (common.lua).
-- The config JSON holds every field (the pressure threshold included), so lanes that differ
-- in any of them are a mismatch. A lane stored for the first time gets 'ord', its place in
-- the order lanes were added to the namespace (ties of the min reservations, see step.lua).
-- Returns {'ok'} or {'mismatch', lane id ('' for the global settings), stored JSON}.
local overwrite = ARGV[2] == '1'
local n = tonumber(ARGV[6])
if not overwrite then
  local stored = redis.call('HGET', K_CONFIG, '')
  if stored and stored ~= ARGV[3] then return {'mismatch', '', stored} end
  for j = 0, n - 1 do
    local b = 7 + j * LANE_FIELDS
    stored = redis.call('HGET', K_CONFIG, ARGV[b])
    if stored and stored ~= ARGV[b + 1] then return {'mismatch', ARGV[b], stored} end
  end
end
local now = now_ms()
redis.call('HSET', K_CONFIG, '', ARGV[3])
redis.call('HSET', K_INFO, 'gcap', ARGV[4], 'dlqsize', ARGV[5])
for j = 0, n - 1 do store_lane(7 + j * LANE_FIELDS, now) end
wake()
return {'ok'}
