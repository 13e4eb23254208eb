-- cancel: drop a command that is pending or scheduled (delayed or waiting to retry).
-- ARGV[2] id, [3] result ttl ms. Returns its state before ('p' or 'd' when cancelled now;
-- 'a' running, 'ok', 'dead', 'x' or '' unknown: nothing changed). A lane under pressure
-- that empties emits queue.lane.idle.
local id = ARGV[2]
local ck = cmd_key(id)
local rec = redis.call('HMGET', ck, 's', 'l', 'r', 'g', 'dl')
local state = rec[1]
if state == 'p' then
  redis.call('LREM', queue_key(rec[2]), 1, id)
  pressure(rec[2], redis.call('LLEN', queue_key(rec[2])), now_ms())
elseif state == 'd' then
  redis.call('ZREM', K_DELAYED, id)
  unhold(rec[2], rec[5] == '1')
else
  return state or ''
end
ungroup(id, rec[4])
redis.call('HSET', ck, 's', 'x')
redis.call('HDEL', ck, 'p')
redis.call('PEXPIRE', ck, ARGV[3])
reply(rec[3], id, 'x', '')
flush_replies()
return state
