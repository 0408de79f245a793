/** The Lua scripts of the Redis ownership store (README, "Ownership records"): each runs atomically. */

// HDEL each field whose value is still the one given: pairs of (field, value) in ARGV.
export const FORGET_IF_UNCHANGED = `local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then n = n + redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return n`;
// After a committed delete: HDEL each field that still holds the deleted revision, or `pending` marks (a
// write given up on, or one in flight: it finds its layer gone, which recordRevision and restore allow);
// pairs of (field, revision) in ARGV. A mark left in place would prove ownership of whatever another tool
// writes under the key next, again and again. A revision another writer of ours recorded since stays.
export const FORGET_DELETED = `local n = 0
for i = 1, #ARGV, 2 do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v and (v == ARGV[i + 1] or v == 'pending' or string.sub(v, 1, 8) == 'pending:') then n = n + redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return n`;
// HSET each field that still holds only `pending` marks left by crashes to the given revision: ARGV[1] the
// age in seconds a mark must reach to count as left behind (no write stays in flight that long), then
// pairs of (field, revision). A younger layer is a write still in flight: settling over it would turn a
// write that later gives up into a claim on whatever the key holds (another tool's bytes), or hide its
// commit. Marks of earlier versions (`pending`, `pending:<id>`) carry no time: they count as old.
export const SETTLE_PENDING = `local now = tonumber(redis.call('TIME')[1])
local n = 0
for i = 2, #ARGV, 2 do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v == 'pending' or (v and string.sub(v, 1, 8) == 'pending:') then
    local old, at = true, 1
    while true do
      local _, e, t = string.find(v, '^pending:%x+%.%d+%.(%d+):', at)
      if not e then break end
      if now - tonumber(t) < tonumber(ARGV[1]) then old = false end
      at = e + 1
    end
    if old then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); n = n + 1 end
  end
end
return n`;
// A write's mark on a field is a layer `pending:<token>:` put in front of the value it replaced (nothing
// after it: the field was absent); the token (`<writer>.<call>.<unix seconds>`) is unique per markPending call. Two writes of the same key
// at once stack their layers (`pending:<B>:pending:<A>:42`), and each script works on its own layer
// wherever it sits, so a write that gave up never buries another's claim, and a repeated call (a reply
// timed out and the call was retried) finds its layer and changes nothing.
// ARGV[1] the token, ARGV[2..] the fields: puts the layer on each field that does not hold it yet (on a
// retried call, all do); returns how many were marked. unpack: 2 * CHUNK values stay well under Lua's C
// stack limit (8000).
export const MARK_PENDING = `local layer = 'pending:' .. ARGV[1] .. ':'
local values = redis.call('HMGET', KEYS[1], unpack(ARGV, 2))
local fields = {}
local n = 0
for i = 2, #ARGV do
  local v = values[i - 1]
  if not (v and string.find(v, layer, 1, true)) then
    fields[n + 1] = ARGV[i]
    fields[n + 2] = layer .. (v or '')
    n = n + 2
  end
end
if n > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
return n / 2`;
// Splits a value into the layers on top (any writes' `pending:<token>:`) and the record under them.
const LAYERS = `local function under(v)
  local i = 1
  while true do
    local _, e = string.find(v, '^pending:%x+%.%d+%.%d+:', i)
    if not e then break end
    i = e + 1
  end
  return string.sub(v, 1, i - 1), string.sub(v, i)
end
`;
// After a committed write at revision ARGV[2] (token ARGV[1]); then pairs of (field, the mod revision the
// write expected; empty: a create). The write's layer and everything it covered become the revision, and
// layers other writes put on top stay (so their restore puts back our revision). Where the layer is gone
// (pruned by another run, or Redis lost data), the record under any other layers takes the revision if it
// is empty or still the expected revision (settled by another run): the committed transaction proves that
// change was ours. A record another writer made since is left alone. Returns how many fields held nothing.
export const RECORD_REVISION = `${LAYERS}local layer = 'pending:' .. ARGV[1] .. ':'
local lost = 0
for i = 3, #ARGV, 2 do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if not v then
    lost = lost + 1
    v = ''
  end
  local at = string.find(v, layer, 1, true)
  if at then
    redis.call('HSET', KEYS[1], ARGV[i], string.sub(v, 1, at - 1) .. ARGV[2])
  else
    local top, rest = under(v)
    if rest == '' or (ARGV[i + 1] ~= '' and rest == ARGV[i + 1]) then redis.call('HSET', KEYS[1], ARGV[i], top .. ARGV[2]) end
  end
end
return lost`;
// A write whose condition failed finds its bytes in etcd at revision ARGV[2 + 2k] (token ARGV[1], pairs of
// field and revision): ours only if this instance recorded exactly that revision under our layer (another
// write of ours made it); then the layer goes and the record stays. Otherwise the layer goes and what it
// covered is the record again (a skip). Returns 1 per field settled as ours, 0 otherwise, in order.
export const SETTLE_FOUND = `${LAYERS}local layer = 'pending:' .. ARGV[1] .. ':'
local out = {}
for i = 2, #ARGV, 2 do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  local at = v and string.find(v, layer, 1, true)
  out[#out + 1] = 0
  if at then
    local rest = string.sub(v, 1, at - 1) .. string.sub(v, at + #layer)
    if string.sub(v, at + #layer) == ARGV[i + 1] then out[#out] = 1 end
    if rest == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], rest) end
  elseif v then
    -- Our layer already gone (this script retried after a lost reply): the same answer as the first run.
    local _, below = under(v)
    if below == ARGV[i + 1] then out[#out] = 1 end
  end
end
return out`;
// For writes that did not happen (token ARGV[1], fields ARGV[2..]): removes the write's layer wherever it
// sits; a field left empty is removed.
export const RESTORE = `local layer = 'pending:' .. ARGV[1] .. ':'
for i = 2, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  local at = v and string.find(v, layer, 1, true)
  if at then
    local rest = string.sub(v, 1, at - 1) .. string.sub(v, at + #layer)
    if rest == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], rest) end
  end
end
return 0`;
// Deletes each key in KEYS that is a string (a zk2etcd 1.x record); other types under such names are not ours.
export const DEL_LEGACY = `local n = 0
for i = 1, #KEYS do
  if redis.call('TYPE', KEYS[i]).ok == 'string' then n = n + redis.call('DEL', KEYS[i]) end
end
return n`;
