-- reap: return commands whose lease expired (their worker died or hung) to the FRONT of their
-- lane, or dead-letter them after more than ARGV[5] stalls. Guarded by a SET NX PX lock so
-- one worker per interval does it. ARGV[2] lock owner, [3] lock ms, [4] max per call,
-- [5] max stalls. Returns the number of commands reaped (-1: another worker holds the lock).
if not redis.call('SET', P .. 'reaper', ARGV[2], 'NX', 'PX', ARGV[3]) then return -1 end
local now = now_ms()
local max_stalls = tonumber(ARGV[5])
local expired = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
local requeued = false
for _, id in ipairs(expired) do
  redis.call('ZREM', K_LEASES, id)
  local ck = cmd_key(id)
  local rec = redis.call('HMGET', ck, 's', 'l', 't', 'a', 'r')
  if rec[1] == 'a' then
    local lane = rec[2]
    redis.call('HINCRBY', lane_key(lane), 'act', -1)
    redis.call('HINCRBY', K_INFO, 'act', -1)
    redis.call('HINCRBY', K_INFO, 'stalls', 1)
    local stalls = redis.call('HINCRBY', ck, 'st', 1)
    redis.call('HSET', ck, 'k', '0')
    if stalls > max_stalls then
      local text = 'lease expired ' .. stalls .. ' times (worker lost or hung)'
      local err = cjson.encode({type = 'LeaseExpired', message = text})
      dead_letter(id, lane, rec[3], tonumber(rec[4]), err, text, rec[5], now)
    else
      redis.call('HSET', ck, 's', 'p')
      pressure(lane, redis.call('LPUSH', queue_key(lane), id), now)
      requeued = true
    end
  end
end
if requeued then wake() end
flush_replies()
return #expired
