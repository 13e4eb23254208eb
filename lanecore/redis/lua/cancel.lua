-- cancel: cancel a command that is pending, scheduled (delayed or waiting to retry) or
-- running. ARGV[2] id, [3] result ttl ms. Returns its state before ('p', 'd' or 'a' when
-- cancelled now; 'ok', 'dead', 'x' or '' unknown: nothing changed). A running one's slots
-- are freed at once, its lease dropped, its worker told ({id, 'stop', token}) to cancel the
-- task; its late ack is ignored. A lane under pressure that empties emits queue.lane.idle.
local id = ARGV[2]
local stops = {}
local cancelled, state, group = cancel_one(id, now_ms(), ARGV[3], stops)
if not cancelled then return state or '' end
ungroup(id, group)
send_stops(stops)
if state == 'a' then wake() end
flush_replies()
return state
