-- lanes: lanes added and removed at run time. ARGV[2] action:
-- 'add' ([3..] the LANE_FIELDS fields of store_lane): {'ok'}, or {'exists', stored JSON}
--   when the namespace already has a lane of that id (not being removed).
-- 'close' ([3] lane, [4] '1' to cancel what it holds, [5] result ttl ms): new submits to it
--   get 'nolane'; with [4] its pending and scheduled commands are cancelled. Returns how
--   many were cancelled (-1: no such lane).
-- 'drop' ([3] lane): a closed lane holding nothing (pending, running, scheduled) is removed;
--   1 when removed (or already gone), 0 while it still holds work.
-- 'sweep' ([3] max lanes to look at): templated lanes (P..'tpl') with nothing pending,
--   running or scheduled for their idle ttl ms (lane hash 'tpl', counted from the later of
--   the last submit 'last' and the first sweep that found the lane idle, 'idle') are
--   removed; a cursor in K_INFO 'tcur' walks the set over calls. Returns how many removed.
local action = ARGV[2]
local now = now_ms()

local function drop(lane)
  redis.call('ZREM', K_LANES, lane)
  redis.call('HDEL', K_CONFIG, lane)
  redis.call('ZREM', P .. 'tpl', lane)
  redis.call('DEL', lane_key(lane), queue_key(lane))
end

local function holds(lane)
  local f = redis.call('HMGET', lane_key(lane), 'act', 'held')
  return redis.call('LLEN', queue_key(lane)) > 0 or (tonumber(f[1]) or 0) > 0
    or (tonumber(f[2]) or 0) > 0
end

if action == 'add' then
  local lane = ARGV[3]
  if redis.call('ZSCORE', K_LANES, lane)
      and redis.call('HGET', lane_key(lane), 'closed') ~= '1' then
    return {'exists', redis.call('HGET', K_CONFIG, lane) or ''}
  end
  store_lane(3, now)
  wake()
  return {'ok'}
elseif action == 'close' then
  local lane = ARGV[3]
  if not redis.call('ZSCORE', K_LANES, lane) then return -1 end
  redis.call('HSET', lane_key(lane), 'closed', '1')
  if ARGV[4] ~= '1' then return 0 end
  local ttl = ARGV[5]
  local cancelled = 0
  local function cancel(id)
    local ck = cmd_key(id)
    local rec = redis.call('HMGET', ck, 'r', 'g')
    ungroup(id, rec[2])
    redis.call('HSET', ck, 's', 'x')
    redis.call('HDEL', ck, 'p')
    redis.call('PEXPIRE', ck, ttl)
    reply(rec[1], id, 'x', '')
    cancelled = cancelled + 1
  end
  for _, id in ipairs(redis.call('LRANGE', queue_key(lane), 0, -1)) do
    if redis.call('HGET', cmd_key(id), 's') == 'p' then cancel(id) end
  end
  redis.call('DEL', queue_key(lane))
  pressure(lane, 0, now)
  -- scheduled commands of the lane: the delayed set is shared by every lane
  for _, id in ipairs(redis.call('ZRANGE', K_DELAYED, 0, -1)) do
    local f = redis.call('HMGET', cmd_key(id), 'l', 'dl')
    if f[1] == lane then
      redis.call('ZREM', K_DELAYED, id)
      unhold(lane, f[2] == '1')
      cancel(id)
    end
  end
  flush_replies()
  return cancelled
elseif action == 'drop' then
  local lane = ARGV[3]
  if not redis.call('ZSCORE', K_LANES, lane) then return 1 end
  if holds(lane) then return 0 end
  drop(lane)
  return 1
else
  local total = redis.call('ZCARD', P .. 'tpl')
  if total == 0 then return 0 end
  local limit = math.min(tonumber(ARGV[3]), total)
  local cursor = tonumber(redis.call('HGET', K_INFO, 'tcur') or '0')
  if cursor >= total then cursor = 0 end
  local lanes = redis.call('ZRANGE', P .. 'tpl', cursor, cursor + limit - 1)
  local removed = 0
  for _, lane in ipairs(lanes) do
    local lk = lane_key(lane)
    if holds(lane) then
      redis.call('HDEL', lk, 'idle')
    else
      local f = redis.call('HMGET', lk, 'tpl', 'last', 'idle')
      local idle = tonumber(f[3])
      if not idle then
        idle = now
        redis.call('HSET', lk, 'idle', now)
      end
      if now - math.max(idle, tonumber(f[2]) or 0) >= (tonumber(f[1]) or 0) then
        drop(lane)
        removed = removed + 1
      end
    end
  end
  redis.call('HSET', K_INFO, 'tcur', cursor + #lanes - removed)
  return removed
end
