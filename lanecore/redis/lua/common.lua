-- lanecore Redis backend: helpers shared by every script (prepended to each one).
-- KEYS are the namespace's fixed keys (see lanecore/redis/keys.py), all under one hash tag;
-- ARGV[1] is the key prefix "{namespace}:" for the per-lane and per-command keys.
local P = ARGV[1]
local K_LANES, K_LEASES, K_DELAYED, K_WAKE = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_FENCE, K_EVON, K_EVENTS, K_METRICS = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local K_DLQ, K_DEAD, K_INFO, K_CONFIG = KEYS[9], KEYS[10], KEYS[11], KEYS[12]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end

local function cmd_key(id) return P .. 'c:' .. id end
local function queue_key(lane) return P .. 'q:' .. lane end
local function lane_key(lane) return P .. 'l:' .. lane end

-- Events go to a stream only while some subscriber keeps K_EVON alive.
-- Per-command callers test events_on() first, so no payload table is built while off.
local EVENTS_ON = nil
local function events_on()
  if EVENTS_ON == nil then EVENTS_ON = redis.call('EXISTS', K_EVON) == 1 end
  return EVENTS_ON
end
local function emit(key, payload, now)
  if events_on() then
    redis.call('XADD', K_EVENTS, 'MAXLEN', '~', 10000, '*', 'k', key,
      'p', cjson.encode(payload), 't', string.format('%.6f', now / 1000))
  end
end

-- SPEC §6 lane pressure, as the local manager's _lane_changed: call after a lane's pending
-- count changed. A lane whose count reaches its threshold (lane hash 'pt', 0: none) sets its
-- flag 'prs' and emits queue.lane.pressure (once per crossing); when the count is back to 0
-- with the flag set, the flag is cleared and queue.lane.idle emitted. The flag is kept even
-- while nobody subscribes, so a later subscriber does not see a spurious first crossing.
-- Per-lane state is read once per script run and cached here.
local PRESSURE = {}
local function pressure(lane, pending, now)
  local s = PRESSURE[lane]
  if not s then
    local f = redis.call('HMGET', lane_key(lane), 'pt', 'prs')
    s = {threshold = tonumber(f[1]) or 0, on = f[2] == '1'}
    PRESSURE[lane] = s
  end
  if s.threshold <= 0 then return end
  if s.on then
    if pending == 0 then
      s.on = false
      redis.call('HDEL', lane_key(lane), 'prs')
      emit('queue.lane.idle', {lane_id = lane}, now)
    end
  elseif pending >= s.threshold then
    s.on = true
    redis.call('HSET', lane_key(lane), 'prs', '1')
    emit('queue.lane.pressure', {lane_id = lane}, now)
  end
end

local function count(lane, name, n)
  redis.call('HINCRBY', K_METRICS, lane .. '|' .. name, n or 1)
end

-- Counters of a batch are summed here and written once per lane at the end (flush_counts).
local COUNTS = {}  -- counter name -> lane -> n
local function count_later(lane, name)
  local per_lane = COUNTS[name]
  if not per_lane then per_lane = {}; COUNTS[name] = per_lane end
  per_lane[lane] = (per_lane[lane] or 0) + 1
end
local function flush_counts()
  for name, per_lane in pairs(COUNTS) do
    for lane, n in pairs(per_lane) do redis.call('HINCRBY', K_METRICS, lane .. '|' .. name, n) end
  end
  COUNTS = {}
end

-- redis.call(cmd, key, items...) in slices of `width` items (unpack's stack limit is ~8000).
local function call_many(cmd, key, items, width)
  for s = 1, #items, width do
    redis.call(cmd, key, unpack(items, s, math.min(s + width - 1, #items)))
  end
end

-- One pending wake-up token is enough: a woken worker that leaves work behind pushes another.
local function wake()
  if redis.call('LLEN', K_WAKE) == 0 then redis.call('RPUSH', K_WAKE, '1') end
end

-- Results are batched per submitter channel and published once at the end of the script.
local REPLIES = {}
local function reply_to(ch, entry)
  local list = REPLIES[ch]
  if not list then list = {}; REPLIES[ch] = list end
  list[#list + 1] = entry
end
local function reply(channels, id, status, value)
  if not channels or channels == '' then return end
  local entry = {id, status, value}
  if not string.find(channels, ',', 1, true) then return reply_to(channels, entry) end
  for ch in string.gmatch(channels, '[^,]+') do reply_to(ch, entry) end
end
local function flush_replies()
  for ch, list in pairs(REPLIES) do redis.call('PUBLISH', ch, cjson.encode(list)) end
end

local function dead_letter(id, lane, ctype, attempts, err_json, err_text, channels, now)
  local ck = cmd_key(id)
  local group = redis.call('HGET', ck, 'g') or nil
  local seq = redis.call('HINCRBY', K_INFO, 'dlseq', 1)
  redis.call('ZADD', K_DLQ, seq, id)
  redis.call('HSET', K_DEAD, id, cjson.encode({command_id = id, command_type = ctype,
    lane_id = lane, error = err_text, attempts = attempts, failed_at = now / 1000,
    group = group}))
  if group then redis.call('SREM', P .. 'g:' .. group, id) end
  redis.call('HSET', ck, 's', 'dead', 'err', err_json)
  redis.call('PERSIST', ck)
  local size = tonumber(redis.call('HGET', K_INFO, 'dlqsize') or '1000')
  local over = redis.call('ZCARD', K_DLQ) - size
  if over > 0 then
    for _, old in ipairs(redis.call('ZRANGE', K_DLQ, 0, over - 1)) do
      redis.call('ZREM', K_DLQ, old)
      redis.call('HDEL', K_DEAD, old)
      if redis.call('HGET', cmd_key(old), 's') == 'dead' then redis.call('DEL', cmd_key(old)) end
    end
  end
  count(lane, 'lane.commands.failed')
  count(lane, 'lane.commands.dead_lettered')
  emit('queue.command.dead_lettered', {lane_id = lane, command_id = id, command_type = ctype,
    group = group}, now)
  emit('queue.command.failed', {lane_id = lane, command_id = id, error = err_text,
    group = group}, now)
  reply(channels, id, 'err', err_json)
end

-- Lane definitions (config.lua, lanes.lua, and submit.lua for templated lanes): LANE_FIELDS
-- ARGV entries from index b: id, config JSON, priority, min, max, tokens per ms (0:
-- unlimited), bucket capacity, boost deadline ms (0: none), boost steps
-- ("before_ms:levels;..."), pressure threshold (0: none), cost units per ms (0: no cost
-- limit), cost bucket capacity, max pending (0: unbounded).
local LANE_FIELDS = 13
local function store_lane(b, now)
  local lane, lk = ARGV[b], lane_key(ARGV[b])
  local old = redis.call('HGET', K_CONFIG, lane)
  redis.call('HSET', K_CONFIG, lane, ARGV[b + 1])
  redis.call('ZADD', K_LANES, tonumber(ARGV[b + 2]), lane)
  redis.call('HSET', lk, 'pr', ARGV[b + 2], 'min', ARGV[b + 3], 'max', ARGV[b + 4],
    'rate', ARGV[b + 5], 'cap', ARGV[b + 6], 'bd', ARGV[b + 7], 'bs', ARGV[b + 8],
    'pt', ARGV[b + 9], 'crate', ARGV[b + 10], 'ccap', ARGV[b + 11], 'mp', ARGV[b + 12])
  redis.call('HSETNX', lk, 'act', 0)
  redis.call('HDEL', lk, 'closed')
  if redis.call('HEXISTS', lk, 'ord') == 0 then
    redis.call('HSET', lk, 'ord', redis.call('HINCRBY', K_INFO, 'lord', 1))
  end
  if old ~= ARGV[b + 1] or redis.call('HEXISTS', lk, 'tok') == 0 then
    redis.call('HSET', lk, 'tok', ARGV[b + 6], 'ts', now, 'ctok', ARGV[b + 11], 'cts', now)
  end
  -- a lane stored without a threshold (now or by an overwriting manager) is never under
  -- pressure: drop a stale flag so a later threshold starts from a clean state
  if tonumber(ARGV[b + 9]) == 0 then redis.call('HDEL', lk, 'prs') end
end

-- Commands of a group: the set P..'g:'..group of their ids, left when they finish.
local function group_key(group) return P .. 'g:' .. group end
local function ungroup(id, group)
  if group and group ~= '' then redis.call('SREM', group_key(group), id) end
end

-- A lane's held count: its delayed ('dl' set: submitted with delay=, also counted in 'sch')
-- and retrying commands, which count against max_pending without being in its queue.
local function unhold(lane, delayed)
  redis.call('HINCRBY', lane_key(lane), 'held', -1)
  if delayed then redis.call('HINCRBY', lane_key(lane), 'sch', -1) end
end

-- Cancel one command that is pending ('p'), scheduled or retrying ('d') or running ('a'):
-- it leaves its queue, delayed set or lease (a running one's slots, lane and global, are
-- freed at once and {id, 'stop', token} is queued in stops[worker] for send_stops), becomes
-- 'x' for ttl ms and its submitters hear it. Returns whether it was cancelled, its state
-- before and its group; any other state changes nothing.
local function cancel_one(id, now, ttl, stops)
  local ck = cmd_key(id)
  local rec = redis.call('HMGET', ck, 's', 'l', 'r', 'g', 'dl', 'w', 'k')
  local state, lane = rec[1], rec[2]
  if state == 'p' then
    redis.call('LREM', queue_key(lane), 1, id)
    pressure(lane, redis.call('LLEN', queue_key(lane)), now)
  elseif state == 'd' then
    redis.call('ZREM', K_DELAYED, id)
    unhold(lane, rec[5] == '1')
  elseif state == 'a' then
    redis.call('ZREM', K_LEASES, id)
    redis.call('HINCRBY', lane_key(lane), 'act', -1)
    redis.call('HINCRBY', K_INFO, 'act', -1)
    local worker = rec[6]
    if worker then
      local list = stops[worker]
      if not list then list = {}; stops[worker] = list end
      list[#list + 1] = {id, 'stop', rec[7]}
    end
  else
    return false, state, nil
  end
  redis.call('HSET', ck, 's', 'x', 'k', '0')
  redis.call('HDEL', ck, 'p')
  redis.call('PEXPIRE', ck, ttl)
  reply(rec[3], id, 'x', '')
  return true, state, rec[4]
end
local function send_stops(stops)
  for worker, list in pairs(stops) do
    redis.call('PUBLISH', P .. 'r:' .. worker, cjson.encode(list))
  end
end
