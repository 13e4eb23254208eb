-- dlq: ARGV[2] action. 'retry' (ARGV[3] id, [4] reply channel): queue the dead command again
-- with a fresh attempt count, returns 1 (0: no such dead letter). 'remove' (ARGV[3] id):
-- forget one dead letter and its command, returns 1 or 0. 'clear': forget every dead letter,
-- returns how many there were.
local action = ARGV[2]
local function forget(id)
  redis.call('ZREM', K_DLQ, id)
  redis.call('HDEL', K_DEAD, id)
  if redis.call('HGET', cmd_key(id), 's') == 'dead' then redis.call('DEL', cmd_key(id)) end
end
if action == 'retry' then
  local id = ARGV[3]
  if not redis.call('ZSCORE', K_DLQ, id) then return 0 end
  local ck = cmd_key(id)
  local lane = redis.call('HGET', ck, 'l')
  if not lane or redis.call('HGET', ck, 's') ~= 'dead' then return 0 end
  redis.call('ZREM', K_DLQ, id)
  redis.call('HDEL', K_DEAD, id)
  redis.call('HSET', ck, 's', 'p', 'a', 0, 'st', 0, 'k', '0', 'r', ARGV[4], 'at', now_ms())
  redis.call('HDEL', ck, 'err')
  pressure(lane, redis.call('RPUSH', queue_key(lane), id), now_ms())
  wake()
  return 1
elseif action == 'remove' then
  if not redis.call('ZSCORE', K_DLQ, ARGV[3]) then return 0 end
  forget(ARGV[3])
  return 1
else
  local ids = redis.call('ZRANGE', K_DLQ, 0, -1)
  for _, id in ipairs(ids) do forget(id) end
  return #ids
end
