/**
 * The Lua scripts that make the state store's writes fenced: Redis runs each atomically, so checking the
 * partition's marker and writing happen as one step. A script refuses with an error reply whose first word is
 * the reason (`TLFENCED`, `TLLOST`), recognised by its prefix as Redis' own errors are.
 *
 * Every key of one call shares one hash tag (the partition's; for the claims of event ids, the shard's), so the
 * scripts run on Redis Cluster too.
 */

/** Reply prefix of a write or claim refused because a newer owner claimed the partition. */
export const FENCED_REPLY = 'TLFENCED';
/** Reply prefix of a write refused because the partition has no marker (Redis lost it): rebuild first. */
export const LOST_REPLY = 'TLLOST';

/**
 * KEYS[1] marker hash, KEYS[2..] account keys.
 * ARGV[1] owner epoch, ARGV[2] upstream epoch, ARGV[3] account time to live ms, ARGV[4] the partition's high-water
 * position (decimal; the caller's maximum, as Lua numbers cannot hold it), ARGV[5..] account values (in KEYS order).
 */
export const WRITE_SCRIPT = `
local marker = redis.call('HMGET', KEYS[1], 'created', 'owner', 'upstream')
if not marker[1] then
  return redis.error_reply('${LOST_REPLY} partition state has no marker; rebuild it first')
end
local owner = tonumber(marker[2] or '0')
local epoch = tonumber(ARGV[1])
if owner > epoch then
  return redis.error_reply('${FENCED_REPLY} partition owned under lease epoch ' .. marker[2] .. ', newer than ' .. ARGV[1])
end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[3 + i], 'PX', ARGV[3])
end
-- Kept as the string it came as: Lua's tostring keeps 14 significant digits, and an epoch has 16 (a rounded-up
-- upstream epoch would make every later batch of that epoch look stale).
local upstream = ARGV[2]
if tonumber(upstream) < tonumber(marker[3] or '0') then upstream = marker[3] end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'upstream', upstream, 'hw', ARGV[4])
return #KEYS - 1
`;

/**
 * Claims event ids for their events' positions, in one shard of the claims (every partition's ids).
 * KEYS[1] the shard's claims of the current de-duplication bucket, KEYS[2] of the previous one, KEYS[3] of the next
 * one (hashes: event id → position; the next bucket holds the claims of an instance whose clock runs ahead).
 * ARGV[1] the time to live of the current bucket ms, then per event: id, position, and the position it had before a
 * redrive ('' for none) — positions as the caller encodes them (compared, never computed).
 * An id claimed in none of the three buckets is claimed in the current one; an id claimed for its redrive's former
 * position passes to the new one (moved to the current bucket, so it lives the whole horizon again); an id claimed
 * for another position is taken. Returns the indexes (1-based, by event) of the taken ids.
 */
export const CLAIM_IDS_SCRIPT = `
local taken = {}
local n = (#ARGV - 1) / 3
-- The claims this call made, by id: a later claim of the same id in the call sees them.
local made = {}
local additions = {}
for first = 1, n, 1000 do
  local last = math.min(first + 999, n)
  local ids = {}
  for i = first, last do ids[#ids + 1] = ARGV[3 * i - 1] end
  local current = redis.call('HMGET', KEYS[1], unpack(ids))
  local before = redis.call('HMGET', KEYS[2], unpack(ids))
  local after = redis.call('HMGET', KEYS[3], unpack(ids))
  for i = first, last do
    local id, pos, from = ARGV[3 * i - 1], ARGV[3 * i], ARGV[3 * i + 1]
    local j = i - first + 1
    local held, where = made[id], nil
    if not held then
      if before[j] then held, where = before[j], KEYS[2]
      elseif after[j] then held, where = after[j], KEYS[3]
      elseif current[j] then held = current[j] end
    end
    if not held or held == from then
      if where then redis.call('HDEL', where, id) end
      additions[#additions + 1] = id
      additions[#additions + 1] = pos
      made[id] = pos
    elseif held ~= pos then
      taken[#taken + 1] = i
    end
  end
  if #additions > 0 then
    redis.call('HSET', KEYS[1], unpack(additions))
    additions = {}
  end
end
if next(made) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return taken
`;

/** KEYS[1] marker hash. ARGV[1] owner epoch. Raises the owner of an existing marker (no marker: nothing to fence). */
export const CLAIM_SCRIPT = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and tonumber(owner) > tonumber(ARGV[1]) then
  return redis.error_reply('${FENCED_REPLY} partition owned under lease epoch ' .. owner .. ', newer than ' .. ARGV[1])
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'owner', ARGV[1])
end
return 1
`;

/**
 * KEYS[1] marker hash. ARGV[1] created ms, ARGV[2] recovered ms ('' for none), ARGV[3] owner epoch, ARGV[4] the
 * high-water position to start from (decimal, kept as the string it came as).
 * Creates the marker unless one exists (then only raises its owner); returns the stored fields.
 */
export const INIT_MARKER_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'created', ARGV[1], 'recovered', ARGV[2], 'owner', ARGV[3], 'upstream', '0', 'hw', ARGV[4])
else
  local owner = redis.call('HGET', KEYS[1], 'owner')
  if owner and tonumber(owner) > tonumber(ARGV[3]) then
    return redis.error_reply('${FENCED_REPLY} partition owned under lease epoch ' .. owner .. ', newer than ' .. ARGV[3])
  end
  redis.call('HSET', KEYS[1], 'owner', ARGV[3])
end
return redis.call('HMGET', KEYS[1], 'created', 'recovered', 'owner', 'upstream', 'hw')
`;
