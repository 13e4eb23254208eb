-- step: the worker's one round trip. Applies acks, moves due retries back, then claims.
-- ARGV[2] worker id, [3] lease ms, [4] max commands to claim, [5] result ttl ms,
-- [6] number of acks, then per ack 7 fields:
--   id, fencing token, kind ('ok' | 'retry' | 'fail'), value (result or error JSON),
--   retry delay ms, error text, timed out ('1' | '0');
-- then (optional) the number of results, then per result 3 fields: id, fencing token, value
-- JSON (an 'ok' ack in fewer arguments: the worker sends its results this way); then
-- (optional) a gate key: while it exists the call claims nothing (see worker.py: the claim
-- an idle worker queues behind its BLPOP, stopped by setting the gate).
-- An ack whose token is not the command's current one (a zombie worker whose lease expired)
-- changes nothing and is counted in K_INFO 'zombie_acks'.
-- Claim rule (the local core's): lanes ordered by effective priority (base minus deadline
-- boost), then round-robin within a level: by when they last had a command claimed (lane
-- hash 'rr', a sequence number from K_INFO 'rr'; 0: never), least recently served first, so
-- a lane that just had a command claimed goes behind the other lanes of its level; ties
-- (lanes never served) by base priority, then lane order. The first lane with pending work
-- that is not paused, is below its max, has a token (bucket refilled from TIME) and fits the
-- global cap wins.
-- Min reservations (the local lane table's rule): walking the lanes by base priority (ties:
-- 'ord', the order they were added), each is granted its min while the running sum fits the
-- global cap; the first that does not fit and all after it get 0 (no cap: every lane its min).
-- Under a global cap every lane with pending work that is not paused and has a token reserves
-- max(0, granted - active) slots; while free slots <= the total reserve only lanes under their
-- grant may dispatch.
-- Returns {wait_ms, more, rejected, then 7 fields per claimed command:
--   id, token, type, payload, attempt, lane, submitted_at_ms}.
-- wait_ms (-1: nothing known) is when the next token or delayed retry is due; more = 1 when
-- claimable work was left behind (a wake-up was pushed for other workers).
-- Pending counts change here (due retries re-enter, claims leave), so lanes with a pressure
-- threshold emit queue.lane.pressure / queue.lane.idle as in submit.lua.
local worker, lease, limit, ttl = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local now = now_ms()
-- lease expiries are whole milliseconds: the leases set holds a worker's running commands,
-- a listpack up to 128 of them, where every ZADD walks the entries and a fractional score
-- is parsed back with strtod at each (~10 us a ZADD at 100 entries; integers ~2.5 us)
local lease_at = math.floor(now) + lease
local rejected = 0

local i = 7
-- the acks' per-command writes are the hash and its expiry; the leases they end, the slots
-- they free and the counters are written once per call after the loop (nothing in it reads
-- them), and before due retries re-enter, which may claim an acked command again
local ended, freed, freed_total = {}, {}, 0
local function ack(id, token, kind, value, delay, err_text, timed_out)
  local ck = cmd_key(id)
  local rec = redis.call('HMGET', ck, 'k', 's', 'l', 't', 'r', 'a', 'g')
  if rec[2] == 'x' then
    -- cancelled while it ran (cancel_group freed its slot then): the outcome is dropped
  elseif rec[2] ~= 'a' or rec[1] ~= token then
    rejected = rejected + 1
    redis.call('HINCRBY', K_INFO, 'zombie_acks', 1)
  else
    local lane = rec[3]
    ended[#ended + 1] = id
    freed[lane] = (freed[lane] or 0) + 1
    freed_total = freed_total + 1

    local group = rec[7] or nil
    if timed_out == '1' then
      count(lane, 'lane.commands.timeout')
      emit('queue.command.timeout', {lane_id = lane, command_id = id, error = err_text,
        group = group}, now)
    end
    if kind == 'ok' then
      -- the payload is dropped (left empty) with the result stored, in one write
      redis.call('HSET', ck, 's', 'ok', 'res', value, 'k', '0', 'p', '')
      redis.call('PEXPIRE', ck, ttl)
      count_later(lane, 'lane.commands.completed')
      if events_on() then
        emit('queue.command.completed', {lane_id = lane, command_id = id, group = group}, now)
      end
      reply(rec[5], id, 'ok', value)
      ungroup(id, group)
    elseif kind == 'retry' then
      redis.call('HSET', ck, 's', 'd', 'k', '0')
      redis.call('ZADD', K_DELAYED, now + delay, id)
      redis.call('HINCRBY', lane_key(lane), 'held', 1)
      count(lane, 'lane.commands.retried')
      emit('queue.command.retry', {lane_id = lane, command_id = id, attempt = tonumber(rec[6]),
        group = group}, now)
    else
      dead_letter(id, lane, rec[4], tonumber(rec[6]), value, err_text, rec[5], now)
    end
  end
end
for _ = 1, tonumber(ARGV[6]) do
  ack(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4]), ARGV[i + 5],
    ARGV[i + 6])
  i = i + 7
end
-- then the results, 3 fields each (id, token, value JSON): an 'ok' ack without the rest
local results = tonumber(ARGV[i] or '0')
i = i + 1
for _ = 1, results do
  ack(ARGV[i], ARGV[i + 1], 'ok', ARGV[i + 2], 0, '', '0')
  i = i + 3
end
-- a call sent ahead (queued behind the worker's BLPOP) claims nothing once its gate is set
local gate = ARGV[i]
if gate and gate ~= '' and redis.call('EXISTS', gate) == 1 then limit = 0 end
if freed_total > 0 then
  call_many('ZREM', K_LEASES, ended, 1000)
  for lane, n in pairs(freed) do redis.call('HINCRBY', lane_key(lane), 'act', -n) end
  redis.call('HINCRBY', K_INFO, 'act', -freed_total)
  flush_counts()
end

-- due retries and delayed submits enter at the back of their lane
local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, 1000)
if #due > 0 then call_many('ZREM', K_DELAYED, due, 1000) end
for _, id in ipairs(due) do
  local f = redis.call('HMGET', cmd_key(id), 'l', 'dl')
  local lane = f[1]
  if lane then
    unhold(lane, f[2] == '1')
    redis.call('HSET', cmd_key(id), 's', 'p')
    if f[2] then redis.call('HDEL', cmd_key(id), 'dl') end
    pressure(lane, redis.call('RPUSH', queue_key(lane), id), now)
  end
end

-- the cost of the command at index `at` (default 0: the head) of a lane's queue (1 past its
-- end: such a lane is not picked anyway)
local function head_cost(lane, at)
  local head = redis.call('LINDEX', queue_key(lane), at or 0)
  if not head then return 1 end
  return tonumber(redis.call('HGET', cmd_key(head), 'co') or '1') or 1
end

-- load the lanes
local names = redis.call('ZRANGE', K_LANES, 0, -1)
local lanes = {}
for index, name in ipairs(names) do
  local f = redis.call('HMGET', lane_key(name), 'pr', 'min', 'max', 'act', 'rate', 'cap', 'tok',
    'ts', 'pause', 'bd', 'bs', 'rr', 'ord', 'crate', 'ccap', 'ctok', 'cts')
  local L = {id = name, index = index, pr = tonumber(f[1]) or 0, min = tonumber(f[2]) or 1,
    max = tonumber(f[3]) or 1, act = tonumber(f[4]) or 0, rate = tonumber(f[5]) or 0,
    cap = tonumber(f[6]) or 0, tok = tonumber(f[7]) or 0, ts = tonumber(f[8]) or now,
    pause = f[9] == '1', rr = tonumber(f[12]) or 0, ord = tonumber(f[13]) or (1e15 + index),
    pend = redis.call('LLEN', queue_key(name)), claimed = 0, crate = tonumber(f[14]) or 0}
  L.eff = L.pr
  local deadline = tonumber(f[10]) or 0
  if deadline > 0 and L.pend > 0 then
    local head = redis.call('LINDEX', queue_key(name), 0)
    local at = tonumber(redis.call('HGET', cmd_key(head), 'at') or now)
    local remaining = deadline - (now - at)
    if remaining <= 0 then
      L.eff = 0
    else
      local boost = 0
      for before, levels in string.gmatch(f[11] or '', '([%d%.]+):(%d+)') do
        if remaining <= tonumber(before) and tonumber(levels) > boost then boost = tonumber(levels) end
      end
      L.eff = math.max(0, L.pr - boost)
    end
  end
  if L.rate > 0 then
    L.tok = math.min(L.cap, L.tok + (now - L.ts) * L.rate)
    L.ts = now
  end
  if L.crate > 0 then
    -- the cost bucket: the head command pays its cost 'co' (default 1) at dispatch
    L.ccap = tonumber(f[15]) or 0
    L.ctok = math.min(L.ccap, (tonumber(f[16]) or L.ccap) + (now - (tonumber(f[17]) or now)) * L.crate)
    L.cts = now
    L.hcost = head_cost(name)
  end
  lanes[#lanes + 1] = L
end
local function ahead(a, b)
  if a.eff ~= b.eff then return a.eff < b.eff end
  if a.rr ~= b.rr then return a.rr < b.rr end
  if a.pr ~= b.pr then return a.pr < b.pr end
  return a.index < b.index
end
table.sort(lanes, ahead)
local info = redis.call('HMGET', K_INFO, 'rr', 'gcap', 'act')
local served = tonumber(info[1] or '0')
local gcap = tonumber(info[2] or '0')
local gact = tonumber(info[3] or '0')

local by_base = {}
for n, L in ipairs(lanes) do by_base[n] = L end
table.sort(by_base, function(a, b)
  if a.pr ~= b.pr then return a.pr < b.pr end
  return a.ord < b.ord
end)
local used, fits = 0, true
for _, L in ipairs(by_base) do
  fits = fits and (gcap == 0 or used + L.min <= gcap)
  if fits then L.grant = L.min else L.grant = 0 end
  used = used + L.grant
end
local wait = -1
local function note_wait(ms)
  if wait < 0 or ms < wait then wait = ms end
end

local function pick()
  local reserve, free = 0, 0
  if gcap > 0 then
    free = gcap - gact
    if free <= 0 then return nil end
    for _, L in ipairs(lanes) do
      -- paused lanes and lanes out of tokens hold no reservation
      if L.pend > 0 and not L.pause and L.act < L.grant and (L.rate <= 0 or L.tok >= 1)
          and (L.crate <= 0 or L.ctok >= L.hcost) then
        reserve = reserve + L.grant - L.act
      end
    end
  end
  for _, L in ipairs(lanes) do
    if L.pend > 0 and not L.pause and L.act < L.max
        and (gcap == 0 or free > reserve or L.act < L.grant) then
      local rated = L.rate > 0 and L.tok < 1
      local costed = L.crate > 0 and L.ctok < L.hcost
      if not rated and not costed then return L end
      if rated then note_wait((1 - L.tok) / L.rate) end
      if costed then note_wait((L.hcost - L.ctok) / L.crate) end
    end
  end
  return nil
end

local out = {0, 0, rejected}
local more = 0
local claimed = 0
local fence = nil  -- the fencing counter, read at the first claim and written back once
local leases = {}  -- ZADD arguments: lease expiry, id
-- Each round first plans its claims: pick() in a loop, keeping the lanes' counts, buckets
-- and round-robin order here as each claim would change them (no Redis call), then pops
-- every planned lane's share with one LPOP and claims the commands in the planned order.
-- A popped id that turns out not to be pending (its hash gone, e.g. evicted) gives back
-- its slot and tokens, and another round plans what is left of the limit.
while true do
  local plan, plan_pend, plan_cost = {}, {}, {}  -- per planned claim: lane, its pending, cost
  local share = {}  -- lane id -> commands planned from it this round
  more = 0
  while true do
    local L = pick()
    if not L then break end
    if claimed + #plan >= limit then more = 1; break end
    L.pend = L.pend - 1
    L.act = L.act + 1
    gact = gact + 1
    local cost = 1
    if L.rate > 0 then L.tok = L.tok - 1 end
    if L.crate > 0 then cost = L.hcost; L.ctok = L.ctok - cost end
    -- round-robin: the lane just served goes behind the other lanes of its level
    served = served + 1
    L.rr = served
    if #lanes > 1 then table.sort(lanes, ahead) end
    local p = #plan + 1
    plan[p], plan_pend[p], plan_cost[p] = L, L.pend, cost
    share[L.id] = (share[L.id] or 0) + 1
    if L.crate > 0 then L.hcost = head_cost(L.id, share[L.id]) end
  end
  if #plan == 0 then break end
  local popped, taken = {}, {}
  for lane, n in pairs(share) do
    popped[lane] = redis.call('LPOP', queue_key(lane), n) or {}
    taken[lane] = 0
  end
  local stale = 0
  for p, L in ipairs(plan) do
    local pend, cost = plan_pend[p], plan_cost[p]
    local k = taken[L.id] + 1
    taken[L.id] = k
    local id = popped[L.id][k]
    pressure(L.id, pend, now)
    local rec = id and redis.call('HMGET', cmd_key(id), 't', 'p', 'a', 'at', 's', 'g')
    if rec and rec[5] == 'p' then
      if not fence then fence = tonumber(redis.call('GET', K_FENCE) or '0') end
      fence = fence + 1
      local attempt = (tonumber(rec[3]) or 0) + 1
      redis.call('HSET', cmd_key(id), 's', 'a', 'k', fence, 'a', attempt, 'w', worker)
      leases[#leases + 1] = lease_at
      leases[#leases + 1] = id
      L.claimed = L.claimed + 1
      claimed = claimed + 1
      local n = #out
      out[n + 1] = id; out[n + 2] = fence; out[n + 3] = rec[1]; out[n + 4] = rec[2]
      out[n + 5] = attempt; out[n + 6] = L.id; out[n + 7] = rec[4]
      if events_on() then
        emit('queue.command.started', {lane_id = L.id, command_id = id, command_type = rec[1],
          group = rec[6] or nil}, now)
      end
    else
      L.act = L.act - 1
      gact = gact - 1
      if L.rate > 0 then L.tok = L.tok + 1 end
      if L.crate > 0 then L.ctok = L.ctok + cost end
      if not id then L.pend = 0 end
      stale = stale + 1
    end
  end
  if stale == 0 then break end
end
if fence then redis.call('SET', K_FENCE, fence) end
if #leases > 0 then call_many('ZADD', K_LEASES, leases, 1000) end

for _, L in ipairs(lanes) do
  if L.claimed > 0 then
    redis.call('HINCRBY', lane_key(L.id), 'act', L.claimed)
    redis.call('HSET', lane_key(L.id), 'rr', L.rr)
  end
  if L.rate > 0 then redis.call('HSET', lane_key(L.id), 'tok', L.tok, 'ts', L.ts) end
  if L.crate > 0 then redis.call('HSET', lane_key(L.id), 'ctok', L.ctok, 'cts', L.cts) end
end
if claimed > 0 then
  redis.call('HINCRBY', K_INFO, 'act', claimed)
  redis.call('HSET', K_INFO, 'rr', served)
end

local head = redis.call('ZRANGE', K_DELAYED, 0, 0, 'WITHSCORES')
if head[2] then note_wait(math.max(1, tonumber(head[2]) - now)) end
if more == 1 then wake() end
flush_replies()
out[1] = math.ceil(wait)
out[2] = more
return out
