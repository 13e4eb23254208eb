-- submit: ARGV[2] = reply channel, ARGV[3] = m templated lane definitions (each the
-- LANE_FIELDS fields of store_lane, then its idle ttl ms): a lane missing is created first,
-- and each one's last-submit time 'last' is stamped; then ARGV = n commands, in runs of
-- commands with the same lane, type and options: each run is (count, lane, type, options),
-- then count x (id, payload JSON). options is '' or "cost,delay ms,group" (group: the rest,
-- maybe '').
-- A new id is queued at the back of its lane (or, with a delay, put in K_DELAYED as
-- scheduled); an existing id is never queued twice: the caller gets its state ('p' in flight,
-- 'ok'/'err' with the stored outcome, 'x' cancelled). A lane whose pending count reaches its
-- pressure threshold emits queue.lane.pressure. A lane with max pending 'mp' that holds as
-- many (queued, delayed and retrying) refuses the command: 'full', nothing stored.
-- Returns 2 entries per command: status ('new', 'p', 'ok', 'err', 'x', 'nolane', 'full'),
-- value (the bound for 'full').
local channel = ARGV[2]
local now = now_ms()
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  local lk = lane_key(ARGV[i])
  if not redis.call('ZSCORE', K_LANES, ARGV[i]) then
    store_lane(i, now)
    redis.call('HSET', lk, 'tpl', ARGV[i + LANE_FIELDS])
    redis.call('ZADD', P .. 'tpl', 0, ARGV[i])
  end
  redis.call('HSET', lk, 'last', now)
  i = i + LANE_FIELDS + 1
end
local out = {}
local queued = false
local LANE = {}
-- A lane's submit facts, read once per call: false when it is missing or closed; its max
-- pending; whether its ids can be pushed in one RPUSH at the end (no max pending to check
-- per command, no pressure threshold to cross). Its pressure state primes common.lua's cache.
local function lane_info(lane)
  local info = LANE[lane]
  if info == nil then
    info = false
    if redis.call('ZSCORE', K_LANES, lane) then
      local f = redis.call('HMGET', lane_key(lane), 'closed', 'mp', 'pt', 'prs')
      if f[1] ~= '1' then
        local mp, pt = tonumber(f[2]) or 0, tonumber(f[3]) or 0
        info = {mp = mp, batched = mp <= 0 and pt <= 0}
        PRESSURE[lane] = {threshold = pt, on = f[4] == '1'}
      end
    end
    LANE[lane] = info
  end
  return info
end
local n = tonumber(ARGV[i])
i = i + 1
-- One EXISTS over the batch's ids: when none is stored (new submits, the usual case), the
-- per-command read of a stored state is skipped; an id seen earlier in this call is read.
local fresh = false
local keys = {}  -- the commands' hash keys
if n > 0 then
  local at = i
  while #keys < n do
    local run = tonumber(ARGV[at])
    at = at + 4
    for _ = 1, run do
      keys[#keys + 1] = cmd_key(ARGV[at])
      at = at + 2
    end
  end
  local found = 0
  for s = 1, n, 1000 do
    found = found + redis.call('EXISTS', unpack(keys, s, math.min(s + 999, n)))
  end
  fresh = found == 0
end
local seen = {}
local pushes = {}  -- lane -> ids to RPUSH at the end, in submit order
-- Into the lane's queue: batched lanes get one RPUSH per call at the end; lanes with a
-- max_pending or a pressure threshold push each one at once (the next check sees it).
local function enqueue(lane, id, batched)
  if batched then
    local list = pushes[lane]
    if not list then list = {}; pushes[lane] = list end
    list[#list + 1] = id
  else
    pressure(lane, redis.call('RPUSH', queue_key(lane), id), now)
  end
end
local left, lane, ctype, opts = 0, nil, nil, nil  -- the current run
for j = 1, n do
  if left == 0 then
    left, lane, ctype, opts = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    i = i + 4
  end
  left = left - 1
  local id, payload = ARGV[i], ARGV[i + 1]
  i = i + 2
  local ck = keys[j]
  local rec, state = nil, nil
  if not fresh or seen[id] then
    rec = redis.call('HMGET', ck, 's', 'r', 'res', 'err')
    state = rec[1]
  end
  seen[id] = true
  local info = not state and lane_info(lane)
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
  elseif not info then
    out[#out + 1] = 'nolane'; out[#out + 1] = ''
  elseif info.mp > 0 and redis.call('LLEN', queue_key(lane))
      + tonumber(redis.call('HGET', lane_key(lane), 'held') or '0') >= info.mp then
    out[#out + 1] = 'full'; out[#out + 1] = info.mp
  else
    if opts == '' then
      -- a plain command: one write of its whole hash
      redis.call('HSET', ck, 't', ctype, 'l', lane, 'p', payload, 'a', 0, 'r', channel,
        'at', now, 'st', 0, 'k', '0', 's', 'p')
      count_later(lane, 'lane.commands.submitted')
      if events_on() then
        emit('queue.command.submitted', {lane_id = lane, command_id = id}, now)
      end
      enqueue(lane, id, info.batched)
    else
      local event = {lane_id = lane, command_id = id}
      local c, d, g = string.match(opts, '^(%d+),([%d%.]+),(.*)$')
      local cost, delay, group = tonumber(c), tonumber(d), g
      local fields = {ck, 't', ctype, 'l', lane, 'p', payload, 'a', 0, 'r', channel, 'at', now,
        'st', 0, 'k', '0'}
      if cost > 1 then fields[#fields + 1] = 'co'; fields[#fields + 1] = cost end
      if group ~= '' then
        fields[#fields + 1] = 'g'; fields[#fields + 1] = group
        redis.call('SADD', group_key(group), id)
        event.group = group
      end
      if delay > 0 then
        fields[#fields + 1] = 's'; fields[#fields + 1] = 'd'
        fields[#fields + 1] = 'dl'; fields[#fields + 1] = '1'
      else
        fields[#fields + 1] = 's'; fields[#fields + 1] = 'p'
      end
      redis.call('HSET', unpack(fields))
      count_later(lane, 'lane.commands.submitted')
      emit('queue.command.submitted', event, now)
      if delay > 0 then
        redis.call('ZADD', K_DELAYED, now + delay, id)
        redis.call('HINCRBY', lane_key(lane), 'held', 1)
        redis.call('HINCRBY', lane_key(lane), 'sch', 1)
      else
        enqueue(lane, id, info.batched)
      end
    end
    queued = true  -- a woken worker also learns an earlier due time
    out[#out + 1] = 'new'; out[#out + 1] = ''
  end
end
for lane, ids in pairs(pushes) do call_many('RPUSH', queue_key(lane), ids, 1000) end
flush_counts()
if queued then wake() end
return out
