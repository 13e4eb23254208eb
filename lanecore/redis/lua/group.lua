-- group: ARGV[2] action, [3] group. 'size': how many of its commands are unfinished.
-- 'cancel' ([4] result ttl ms): cancel every pending, scheduled, retrying and running one;
-- a running one's slot (lane and global) is freed at once, its lease dropped, and its
-- worker told on the worker's channel ({id, 'stop', token}) to cancel the task; its late
-- ack is ignored. Returns how many were cancelled. Cost: O(the group's size) (plus LREM's
-- scan of the lane's queue for each pending one).
local gk = group_key(ARGV[3])
if ARGV[2] == 'size' then return redis.call('SCARD', gk) end
local ttl = ARGV[4]
local now = now_ms()
local cancelled = 0
local stops = {}
for _, id in ipairs(redis.call('SMEMBERS', gk)) do
  local ck = cmd_key(id)
  local rec = redis.call('HMGET', ck, 's', 'l', 'r', 'dl', 'w', 'k')
  local state, lane = rec[1], rec[2]
  local hit = true
  if state == 'p' then
    redis.call('LREM', queue_key(lane), 1, id)
    pressure(lane, redis.call('LLEN', queue_key(lane)), now)
  elseif state == 'd' then
    redis.call('ZREM', K_DELAYED, id)
    unhold(lane, rec[4] == '1')
  elseif state == 'a' then
    free_running(id, lane, rec[5], rec[6], stops)
  else
    hit = false
  end
  if hit then
    cancelled = cancelled + 1
    redis.call('HSET', ck, 's', 'x', 'k', '0')
    redis.call('HDEL', ck, 'p')
    redis.call('PEXPIRE', ck, ttl)
    reply(rec[3], id, 'x', '')
  end
end
redis.call('DEL', gk)
send_stops(stops)
if cancelled > 0 then wake() end
flush_replies()
return cancelled
