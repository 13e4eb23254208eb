-- submit: ARGV[2] = reply channel, ARGV[3] = n, then n x (id, lane, type, payload JSON).
-- A new id is queued at the back of its lane; an existing id is never queued twice: the
-- caller gets its state ('p' in flight, 'ok'/'err' with the stored outcome, 'x' cancelled).
-- A lane whose pending count reaches its pressure threshold emits queue.lane.pressure.
-- Returns 2 entries per command: status ('new', 'p', 'ok', 'err', 'x', 'nolane'), value.
local channel = ARGV[2]
local now = now_ms()
local out = {}
local queued = false
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  local id, lane, ctype, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  i = i + 4
  local ck = cmd_key(id)
  local rec = redis.call('HMGET', ck, 's', 'r', 'res', 'err')
  local state = rec[1]
  if state then
    if state == 'ok' then
      out[#out + 1] = 'ok'; out[#out + 1] = rec[3]
    elseif state == 'dead' then
      out[#out + 1] = 'err'; out[#out + 1] = rec[4]
    elseif state == 'x' then
      out[#out + 1] = 'x'; out[#out + 1] = ''
    else
      local r = rec[2] or ''
      if channel ~= '' and not string.find(',' .. r .. ',', ',' .. channel .. ',', 1, true) then
        if r == '' then r = channel else r = r .. ',' .. channel end
        redis.call('HSET', ck, 'r', r)
      end
      out[#out + 1] = 'p'; out[#out + 1] = ''
    end
  elseif not redis.call('ZSCORE', K_LANES, lane) then
    out[#out + 1] = 'nolane'; out[#out + 1] = ''
  else
    redis.call('HSET', ck, 't', ctype, 'l', lane, 'p', payload, 'a', 0, 's', 'p', 'r', channel,
      'at', now, 'st', 0, 'k', '0')
    local pending = redis.call('RPUSH', queue_key(lane), id)
    count(lane, 'lane.commands.submitted')
    emit('queue.command.submitted', {lane_id = lane, command_id = id}, now)
    pressure(lane, pending, now)
    queued = true
    out[#out + 1] = 'new'; out[#out + 1] = ''
  end
end
if queued then wake() end
return out
