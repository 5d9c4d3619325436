/**
 * The Lua scripts of the Redis engine. Each is one round trip and runs atomically in Redis (no
 * other command runs between its steps), which is what makes the checks and the writes of one
 * operation a single step: the lock's fence, the sync gate's epoch and the one-open-position rule
 * are checked in the same script that writes, so nothing can change between check and act.
 *
 * Refusal rule (refused means unchanged): every script makes all its checks before its first
 * write, and returns a refusal as an error reply `ERR_<CODE> message` (connection.ts maps it to
 * SabStateError with that code). Redis does not roll a script back, so a script never writes
 * before it can no longer refuse.
 *
 * Keys: every key a script touches is in KEYS, or (positions' reads, which find a uuid in the
 * open index first) built inside the script from the hotkey's base (`prefix{hotkey}:`), so every
 * key of one call has the same hash tag `{hotkey}` and lives in one Redis Cluster slot. The one
 * exception: positions' writes with `{ ifEpoch }` read the gate key (`prefix{sync}:gate`),
 * another slot; see engine.ts, "Cluster".
 *
 * Fencing (Kleppmann's objection to Redlock, answered in the store): a lock's value is
 * `<fence>:<random>`, where the fence is a per-hotkey INCR taken by the same script that grants
 * the lock. A write made under the lock passes that value, and the write script compares it
 * with the lock key's current value: a holder whose lock expired (a GC pause, a stopped
 * process) and was granted to another has a different value, and its write is refused
 * (ERR_LOCK_NOT_HELD), as is a write after its own lock simply expired.
 */

/** Percent-encodes the characters that could break a key's hash tag or its `:` fields. */
const LUA_ENC = `local function enc(s) return (string.gsub(s, '[%%{}:]', function(c) return string.format('%%%02X', string.byte(c)) end)) end
`;

const LUA_PRELUDE = `local function refuse(code, msg) return redis.error_reply(code .. ' ' .. msg) end
local function stale(gateKey, want)
  if want == '' then return nil end
  local g = redis.call('HMGET', gateKey, 'epoch', 'busy')
  local epoch = tonumber(g[1] or '0')
  local busy = g[2] == '1'
  if busy or epoch ~= tonumber(want) then
    return 'ERR_STALE_EPOCH the sync gate is at epoch ' .. epoch .. (busy and ' with a sync in progress' or '') .. '; the write was made for epoch ' .. want
  end
  return nil
end
local kNotHeld = 'the lock of this position is not held by this holder (its TTL passed or another holder has it): refused by the fence'
`;

export interface ScriptDef {
  readonly name: string;
  readonly keys: number;
  readonly lua: string;
}

/**
 * KEYS lock, fence, pos; ARGV random, ttlMs, base, tp -> granted: {fence, 0, head, orderCount,
 * uuid} (the open position of (hotkey, tp) as getOpenHead() returns it, and its uuid, read in the
 * same step: the order step's getOpenHead costs no round trip, and its write may skip the index
 * read, POS_WRITE's "known"; locks.ts), or {fence, 0} when there is none;
 * held by another: {0, pttl}. The fence is taken first (INCR), then the key by SET NX with the
 * fenced value: two commands per grant; a refused attempt burns a fence number (tokens only need
 * to increase, gaps are harmless).
 */
export const LOCK_ACQUIRE: ScriptDef = {
  name: 'sabstateLockAcquire',
  keys: 3,
  lua: `${LUA_ENC}
local f = redis.call('INCR', KEYS[2])
if not redis.call('SET', KEYS[1], f .. ':' .. ARGV[1], 'NX', 'PX', ARGV[2]) then return {0, redis.call('PTTL', KEYS[1])} end
local uuid = redis.call('HGET', KEYS[3], 'o:' .. ARGV[4])
if not uuid then return {f, 0} end
local hn = redis.call('HMGET', ARGV[3] .. 'head:' .. enc(uuid), 'h', 'n')
if not hn[1] then return {f, 0} end
return {f, 0, hn[1], tonumber(hn[2]), uuid}`,
};

/** KEYS lock; ARGV value, ttlMs -> 1 renewed, 0 not held by this value. */
export const LOCK_RENEW: ScriptDef = {
  name: 'sabstateLockRenew',
  keys: 1,
  lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end return 0`,
};

/** KEYS lock; ARGV value -> 1 released, 0 not held by this value (compare-and-delete). */
export const LOCK_RELEASE: ScriptDef = {
  name: 'sabstateLockRelease',
  keys: 1,
  lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end return 0`,
};

/** POS_WRITE's first order argument: ARGV[POS_WRITE_ORDERS] and on are the orders. */
export const POS_WRITE_ORDERS = 14;

/**
 * save and appendOrder. KEYS lock, head, orders, pos, gate, stream; ARGV 1 lockValue, 2 ifEpoch
 * ('' for none), 3 uuid, 4 tp, 5 open ('1' / '0'), 6 headJson, 7 mode ('save' / 'append'),
 * 8 release ('1' / '0'), 9 known ('1': the index read below is skipped, see "known"),
 * 10 push capacity ('' for no push), 11 push kind, 12 push value, 13 group, 14... the orders
 * (save: all of them; append: the one new order).
 * Checks, all before the first write: fence, gate, trade pair (append), one open position per
 * (hotkey, tp), and with a push, whether the queue has room (XLEN, and XPENDING only when XLEN
 * reaches the capacity, as QUEUE_PUSH). Then the writes: head, orders (save: replaced; append:
 * one RPUSH), the hotkey's index hash (`o:<tp>` -> open uuid, `u:<uuid>` -> tp: one HMGET reads
 * both, one HSET writes both), the push (XADD: the message in the same atomic step as the write,
 * so a saved write's notice cannot be lost and a refused write pushes nothing; a full queue
 * does not refuse the write: the reply is 2, "written, not pushed", and the caller pushes it
 * itself), and with release '1' the lock's deletion (the write's `{ release: true }`: the hold's
 * last write frees the lock in the same step, so the order step sends no separate release). A
 * refused write deletes and pushes nothing either. Reply: 1 written (and pushed, if asked), 2
 * written, queue full.
 *
 * known '1' (sent by positions.ts only when this hold's grant read `o:<tp>` = this uuid and the
 * hold has not written since): the script takes oldTp = tp and cur = uuid without the HMGET.
 * Proof that both are still true when the fence check passes. Invariant I: `o:T` = U implies
 * `u:U` = T (this script sets `u:U` with `o:T`; a move of U deletes `o:oldTp` if it is U;
 * POS_DELETE deletes both). The grant read `o:tp` = U, so `u:U` = tp then. Between the grant and
 * this script, only these change `o:tp` or `u:U`: (a) POS_WRITE or POS_DELETE under the lock of
 * (hotkey, tp) (POS_DELETE checks in-script that `u:<uuid>` is its lock's tp): made by this hold
 * (then positions.ts sends known '0'), or by another holder, which exists only after this hold's
 * lock expired or was deleted, so the fence check below refuses; (b) a save of U under another
 * trade pair's lock (a move): it deletes `o:tp` (it was U) and, below, the lock key of tp with
 * it, so the fence check refuses here too. Nothing else writes the index hash.
 */
export const POS_WRITE: ScriptDef = {
  name: 'sabstatePosWrite',
  keys: 6,
  lua: `${LUA_PRELUDE}${LUA_ENC}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return refuse('ERR_LOCK_NOT_HELD', kNotHeld) end
local s = stale(KEYS[5], ARGV[2])
if s then return redis.error_reply(s) end
local uuid, tp, isOpen, mode = ARGV[3], ARGV[4], ARGV[5] == '1', ARGV[7]
local oldTp, cur = tp, uuid
if ARGV[9] ~= '1' then
  local ix = redis.call('HMGET', KEYS[4], 'u:' .. uuid, 'o:' .. tp)
  oldTp, cur = ix[1], ix[2]
end
if mode == 'append' and oldTp and oldTp ~= tp then
  return refuse('ERR_INVALID_VALUE', uuid .. ' is stored under trade pair ' .. oldTp .. ', not ' .. tp .. ' (save moves positions)')
end
if isOpen and cur and cur ~= uuid then
  return refuse('ERR_INVALID_VALUE', 'this (hotkey, ' .. tp .. ') already has the open position ' .. cur .. '; close it before opening ' .. uuid)
end
local pushed = 1
if ARGV[10] ~= '' then
  local cap, n = tonumber(ARGV[10]), redis.call('XLEN', KEYS[6])
  if n >= cap then
    local p = redis.pcall('XPENDING', KEYS[6], ARGV[13])
    if n - (type(p) == 'table' and p[1] or 0) >= cap then pushed = 2 end
  end
end
if mode == 'save' then
  redis.call('DEL', KEYS[3])
  for i = ${POS_WRITE_ORDERS}, #ARGV, 4000 do redis.call('RPUSH', KEYS[3], unpack(ARGV, i, math.min(i + 3999, #ARGV))) end
  redis.call('HSET', KEYS[2], 'h', ARGV[6], 'n', #ARGV - ${POS_WRITE_ORDERS - 1})
  if oldTp and oldTp ~= tp and redis.call('HGET', KEYS[4], 'o:' .. oldTp) == uuid then
    redis.call('HDEL', KEYS[4], 'o:' .. oldTp)
    -- the move revokes the lock of (hotkey, oldTp): a holder that skipped its index read (known) is refused by the fence
    redis.call('DEL', string.sub(KEYS[4], 1, -4) .. 'lock:' .. enc(oldTp))
  end
else
  redis.call('HSET', KEYS[2], 'h', ARGV[6], 'n', redis.call('RPUSH', KEYS[3], ARGV[${POS_WRITE_ORDERS}]))
end
local set = {}
if isOpen then
  if cur ~= uuid then set[#set + 1] = 'o:' .. tp set[#set + 1] = uuid end
elseif cur == uuid then redis.call('HDEL', KEYS[4], 'o:' .. tp) end
if oldTp ~= tp then set[#set + 1] = 'u:' .. uuid set[#set + 1] = tp end
if #set > 0 then redis.call('HSET', KEYS[4], unpack(set)) end
if pushed == 1 and ARGV[10] ~= '' then redis.call('XADD', KEYS[6], '*', ARGV[11], ARGV[12]) end
if ARGV[8] == '1' then redis.call('DEL', KEYS[1]) end
return pushed`,
};

/** KEYS lock, head, orders, pos; ARGV lockValue, uuid, tp -> 1 deleted, 0 absent, -1 moved to another tp. */
export const POS_DELETE: ScriptDef = {
  name: 'sabstatePosDelete',
  keys: 4,
  lua: `${LUA_PRELUDE}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return refuse('ERR_LOCK_NOT_HELD', kNotHeld) end
local ix = redis.call('HMGET', KEYS[4], 'u:' .. ARGV[2], 'o:' .. ARGV[3])
local t = ix[1]
if not t then return 0 end
if t ~= ARGV[3] then return -1 end
redis.call('DEL', KEYS[2], KEYS[3])
if ix[2] == ARGV[2] then redis.call('HDEL', KEYS[4], 'u:' .. ARGV[2], 'o:' .. t) else redis.call('HDEL', KEYS[4], 'u:' .. ARGV[2]) end
return 1`,
};

/** KEYS head, orders -> {head or false, orders}. */
export const POS_GET: ScriptDef = {
  name: 'sabstatePosGet',
  keys: 2,
  lua: `local h = redis.call('HGET', KEYS[1], 'h') if not h then return false end return {h, redis.call('LRANGE', KEYS[2], 0, -1)}`,
};

/**
 * KEYS pos; ARGV base, tp, mode ('full' / 'head' / 'last') -> false, {head, orders} (full) or
 * {head, orderCount[, lastOrder]}.
 */
export const POS_GET_OPEN: ScriptDef = {
  name: 'sabstatePosGetOpen',
  keys: 1,
  lua: `${LUA_ENC}
local uuid = redis.call('HGET', KEYS[1], 'o:' .. ARGV[2])
if not uuid then return false end
local e = enc(uuid)
local hn = redis.call('HMGET', ARGV[1] .. 'head:' .. e, 'h', 'n')
if not hn[1] then return false end
local ok = ARGV[1] .. 'orders:' .. e
if ARGV[3] == 'full' then return {hn[1], redis.call('LRANGE', ok, 0, -1)} end
local n = tonumber(hn[2])
if ARGV[3] == 'last' and n > 0 then return {hn[1], n, redis.call('LINDEX', ok, -1)} end
return {hn[1], n}`,
};

/** KEYS pos; ARGV base -> {{head, orders}, ...} of every position of the hotkey (its `u:<uuid>` fields). */
export const POS_LIST: ScriptDef = {
  name: 'sabstatePosList',
  keys: 1,
  lua: `${LUA_ENC}
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  if string.sub(all[i], 1, 2) == 'u:' then
    local e = enc(string.sub(all[i], 3))
    local h = redis.call('HGET', ARGV[1] .. 'head:' .. e, 'h')
    if h then out[#out + 1] = {h, redis.call('LRANGE', ARGV[1] .. 'orders:' .. e, 0, -1)} end
  end
end
return out`,
};

/** KEYS rows, gate; ARGV ifEpoch, hotkey, rowJson. */
export const ELIM_ADD: ScriptDef = {
  name: 'sabstateElimAdd',
  keys: 2,
  lua: `${LUA_PRELUDE}
local s = stale(KEYS[2], ARGV[1])
if s then return redis.error_reply(s) end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1`,
};

/** KEYS rows; ARGV hotkey -> the row (removed) or false. Of racing callers exactly one gets it. */
export const ELIM_TAKE: ScriptDef = {
  name: 'sabstateElimTake',
  keys: 1,
  lua: `local v = redis.call('HGET', KEYS[1], ARGV[1]) if v then redis.call('HDEL', KEYS[1], ARGV[1]) end return v`,
};

/** KEYS rows, next; ARGV count: the new set (written under `next`) replaces the old in one step. */
export const ELIM_SWAP: ScriptDef = {
  name: 'sabstateElimSwap',
  keys: 2,
  lua: `if ARGV[1] == '0' then redis.call('DEL', KEYS[1], KEYS[2]) return 1 end
if redis.call('HLEN', KEYS[2]) ~= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[2])
  return redis.error_reply('ERR_INVALID_VALUE the new set was not written whole (expired or partly written); the old set is unchanged')
end
redis.call('RENAME', KEYS[2], KEYS[1])
redis.call('PERSIST', KEYS[1])
return 1`,
};

/**
 * KEYS stream; ARGV capacity, kind, value, group -> 1 pushed, 0 full: `capacity` messages queued
 * and not yet delivered (delivered, unacknowledged ones are in the stream too, one per consumer
 * at most, and do not count: the queue is full only when its undelivered messages fill it).
 * XLEN bounds the undelivered count from above, so XPENDING is asked only when XLEN reaches the
 * capacity (the common push: XLEN and XADD).
 */
export const QUEUE_PUSH: ScriptDef = {
  name: 'sabstateQueuePush',
  keys: 1,
  lua: `local n = redis.call('XLEN', KEYS[1])
if n >= tonumber(ARGV[1]) and n - redis.call('XPENDING', KEYS[1], ARGV[4])[1] >= tonumber(ARGV[1]) then return 0 end
redis.call('XADD', KEYS[1], '*', ARGV[2], ARGV[3])
return 1`,
};

/**
 * pop and popMany when a claim is due (general.ts #take; other polls send XACK, XDEL and
 * XREADGROUP without a script). KEYS stream; ARGV group, consumer, claimIdleMs, claim ('1' / '0'), count,
 * ackIds... Acknowledges (and deletes) the consumer's previous delivery (every id of its last
 * pop or popMany), then (with claim '1') returns up to `count` of the oldest messages other
 * consumers left pending for longer than claimIdleMs (a consumer that died mid-batch: claimed,
 * flag 1), else up to `count` new messages (flag 0), else {0}: {flag, {id, {field, value, ...}}, ...}.
 */
export const QUEUE_POP: ScriptDef = {
  name: 'sabstateQueuePop',
  keys: 1,
  lua: `if #ARGV > 5 then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 6))
  redis.call('XDEL', KEYS[1], unpack(ARGV, 6))
end
local out = {0}
if ARGV[4] == '1' then
  local c = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', ARGV[5])
  for _, e in ipairs(c[2]) do if e and e ~= false then out[#out + 1] = e end end
  if #out > 1 then out[1] = 1 return out end
end
local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[5], 'STREAMS', KEYS[1], '>')
if r and r[1] then for _, e in ipairs(r[1][2]) do out[#out + 1] = e end end
return out`,
};

/** KEYS stream; ARGV group, ids...: acknowledges and deletes delivered messages. */
export const QUEUE_ACK: ScriptDef = {
  name: 'sabstateQueueAck',
  keys: 1,
  lua: `redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2)) redis.call('XDEL', KEYS[1], unpack(ARGV, 2)) return 1`,
};

/** KEYS stream; ARGV group -> messages queued and not yet delivered. */
export const QUEUE_SIZE: ScriptDef = {
  name: 'sabstateQueueSize',
  keys: 1,
  lua: `local p = redis.call('XPENDING', KEYS[1], ARGV[1]) return redis.call('XLEN', KEYS[1]) - p[1]`,
};

/** KEYS gate -> the new epoch; marks a sync in progress. */
export const GATE_BEGIN: ScriptDef = {
  name: 'sabstateGateBegin',
  keys: 1,
  lua: `local e = redis.call('HINCRBY', KEYS[1], 'epoch', 1) redis.call('HSET', KEYS[1], 'busy', '1') return e`,
};

export const ALL_SCRIPTS: readonly ScriptDef[] = [
  LOCK_ACQUIRE, LOCK_RENEW, LOCK_RELEASE, POS_WRITE, POS_DELETE, POS_GET, POS_GET_OPEN, POS_LIST,
  ELIM_ADD, ELIM_TAKE, ELIM_SWAP, QUEUE_PUSH, QUEUE_POP, QUEUE_ACK, QUEUE_SIZE, GATE_BEGIN,
];
