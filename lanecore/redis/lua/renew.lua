-- renew: heartbeat of one worker. ARGV[2] lease ms, then (id, token) pairs of its running
-- commands. A lease is extended only while the token is current; returns the ids whose lease
-- was lost (reaped: the command is queued again and this worker's ack will be rejected).
local lease = tonumber(ARGV[2])
local lease_at = math.floor(now_ms()) + lease  -- whole ms, as step.lua's
local lost = {}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local rec = redis.call('HMGET', cmd_key(id), 's', 'k')
  if rec[1] == 'a' and rec[2] == token then
    redis.call('ZADD', K_LEASES, 'XX', lease_at, id)
  elseif rec[1] == 'a' or rec[1] == 'p' or rec[1] == 'd' then
    lost[#lost + 1] = id  -- reaped (and maybe claimed again); finished ones were just acked
  end
end
return lost
