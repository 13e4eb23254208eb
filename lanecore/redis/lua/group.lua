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
  if cancel_one(id, now, ttl, stops) then cancelled = cancelled + 1 end
end
redis.call('DEL', gk)
send_stops(stops)
if cancelled > 0 then wake() end
flush_replies()
return cancelled
