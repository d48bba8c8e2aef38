"""The broker's Lua scripts: a message numbered, kept and published in one step (RECORD), and
a topic's position and what a client missed read in one step (SINCE)."""

# Both scripts begin here. KEYS: the topic's meta hash, its stream; ARGV[1]:
# an epoch to start if the topic has none (new, or its history was lost);
# ARGV[2]: the format this process writes.
EPOCH = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  if ARGV[2] == '1' then
    redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
  else
    redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0, 'v', ARGV[2])
  end
end
"""

# KEYS: (meta, stream), the publish's id key. ARGV: (epoch, format), size, ttl,
# meta ttl, the pub/sub channel, the envelope's header before and after its
# position, the frame's stamp prefix, its sender, the id's time to live.
# Returns the epoch, the offset, and 1 if it ran now (0: it had run already).
RECORD = (
    """
local done = redis.call('GET', KEYS[3])
if done then
  local at = string.find(done, ':', 1, true)
  return {string.sub(done, 1, at - 1), tonumber(string.sub(done, at + 1)), 0}
end
"""
    + EPOCH
    + """
local offset = string.format('%d', redis.call('HINCRBY', KEYS[1], 'offset', 1))
local frame = ARGV[9] .. '"offset":' .. offset .. ',"epoch":"' .. epoch .. '"}'
if ARGV[2] == '1' then
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], '0-' .. offset, 'f', frame)
else
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], '0-' .. offset, 'f', frame,
    'x', ARGV[10], 'v', ARGV[2])
end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('SET', KEYS[3], epoch .. ':' .. offset, 'PX', ARGV[11])
local where = epoch .. ':' .. offset
redis.call('PUBLISH', ARGV[6], ARGV[7] .. where .. ARGV[8] .. '\\n' .. frame)
return {epoch, tonumber(offset), 1}
"""
)

# ARGV: (epoch, format), meta ttl, the client's epoch and offset ('' and -1
# for none), ttl. Returns the epoch, the offset, and the entries after the
# client's offset if its epoch is current. A topic never published to keeps
# its position for ttl only.
SINCE = (
    EPOCH
    + """
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset'))
redis.call('PEXPIRE', KEYS[1], offset > 0 and ARGV[3] or ARGV[6])
local since = tonumber(ARGV[5])
local entries = {}
if epoch == ARGV[4] and since >= 0 and since < offset then
  entries = redis.call('XRANGE', KEYS[2], string.format('0-%d', since + 1), '+')
end
return {epoch, offset, entries}
"""
)
