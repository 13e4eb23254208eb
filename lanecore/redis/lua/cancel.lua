-- cancel: cancel a command that is pending, scheduled (delayed or waiting to retry) or
-- running. ARGV[2] id, [3] result ttl ms. Returns its state before ('p', 'd' or 'a' when
-- cancelled now; 'ok', 'dead', 'x' or '' unknown: nothing changed). A running one's slots
-- are freed at once, its lease dropped, its worker told ({id, 'stop', token}) to cancel the
-- task; its late ack is ignored. A lane under pressure that empties emits queue.lane.idle.
local id = ARGV[2]
local ck = cmd_key(id)
local rec = redis.call('HMGET', ck, 's', 'l', 'r', 'g', 'dl', 'w', 'k')
local state = rec[1]
local stops = {}
if state == 'p' then
  redis.call('LREM', queue_key(rec[2]), 1, id)
  pressure(rec[2], redis.call('LLEN', queue_key(rec[2])), now_ms())
elseif state == 'd' then
  redis.call('ZREM', K_DELAYED, id)
  unhold(rec[2], rec[5] == '1')
elseif state == 'a' then
  free_running(id, rec[2], rec[6], rec[7], stops)
else
  return state or ''
end
ungroup(id, rec[4])
redis.call('HSET', ck, 's', 'x', 'k', '0')
redis.call('HDEL', ck, 'p')
redis.call('PEXPIRE', ck, ARGV[3])
reply(rec[3], id, 'x', '')
send_stops(stops)
if state == 'a' then wake() end
flush_replies()
return state
