-- Apply item changes to one view, each change at most once (thermocline/hot/store.py builds the call).
-- Runs atomically: no other command sees a change half applied, and changes apply in the order given,
-- so a failure stops at one change and never applies a later change of an item before an earlier one.
--
-- KEYS: every key the changes touch (all share the view's hash tag, so one slot in cluster mode).
-- ARGV[1]: JSON list of changes {"g": guard key index, "s": 40-digit sequence number, "o": [op, ...]};
--   op: {"t": "hincr"|"zincr"|"add"|"remove", "k": key index, "f": group, "a": amount (text),
--        "m": member, "h": summary hash key index (add/remove), "x": expire-at epoch seconds (optional)}
-- ARGV[2]: seconds a guard is kept (longer than the stream's 24-hour retention).
-- Returns {applied, skipped}.
local changes = cjson.decode(ARGV[1])
local guard_seconds = ARGV[2]
local applied, skipped = 0, 0
local expected = {hincr = 'hash', zincr = 'zset', add = 'zset', remove = 'zset'}

-- Redis does not roll a script back on error: check every key's type before a change writes anything,
-- so a change is applied whole or not at all (and then the script stops, leaving later changes alone).
local function check(change)
  for _, op in ipairs(change.o) do
    local found = redis.call('TYPE', KEYS[op.k]).ok
    if found ~= 'none' and found ~= expected[op.t] then
      return redis.error_reply('WRONGTYPE ' .. KEYS[op.k] .. ' is a ' .. found .. ', not a ' .. expected[op.t])
    end
    if op.h then
      found = redis.call('TYPE', KEYS[op.h]).ok
      if found ~= 'none' and found ~= 'hash' then
        return redis.error_reply('WRONGTYPE ' .. KEYS[op.h] .. ' is a ' .. found .. ', not a hash')
      end
    end
  end
  return nil
end

for _, change in ipairs(changes) do
  local guard = KEYS[change.g]
  local last = redis.call('GET', guard)
  -- Sequence numbers are zero-padded to one width, so text order is numeric order.
  if last and last >= change.s then
    skipped = skipped + 1
  else
    local problem = check(change)
    if problem then
      return problem
    end
    for _, op in ipairs(change.o) do
      local key = KEYS[op.k]
      if op.t == 'hincr' then
        if redis.call('HINCRBY', key, op.f, op.a) == 0 then
          redis.call('HDEL', key, op.f)
        end
      elseif op.t == 'zincr' then
        if tonumber(redis.call('ZINCRBY', key, op.a, op.f)) == 0 then
          redis.call('ZREM', key, op.f)
        end
      else
        -- A latest view: every member of the group (score 0, so ordered by text), the greatest is the
        -- latest; the summary hash holds its value, the text after the last \031.
        if op.t == 'add' then
          redis.call('ZADD', key, 0, op.m)
        else
          redis.call('ZREM', key, op.m)
        end
        local summary = KEYS[op.h]
        local top = redis.call('ZRANGE', key, -1, -1)
        if top[1] then
          redis.call('HSET', summary, op.f, string.match(top[1], '[^\031]*$'))
        else
          redis.call('HDEL', summary, op.f)
        end
        if op.x then
          redis.call('EXPIREAT', summary, op.x)
        end
      end
      if op.x then
        redis.call('EXPIREAT', key, op.x)
      end
    end
    redis.call('SET', guard, change.s, 'EX', guard_seconds)
    applied = applied + 1
  end
end
return {applied, skipped}
