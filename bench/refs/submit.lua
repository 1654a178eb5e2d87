-- bench/refs/submit.lua - the Redis reference for one durable submission: what hosod's
-- writer stores for POST /v1/dossiers, as Redis would hold it, in one script (atomic,
-- and with appendfsync always durable before the reply).
--   KEYS[1]  the agency's daily sequence          ARGV[1] code prefix (agency-YYMMDD)
--   ARGV[2]  op_id (idempotency: a repeat returns the first code)
--   ARGV[3]  the dossier (~1 KB, stored as the record, the feed entry and the log entry)
--   ARGV[4]  owner                                 ARGV[5] stats key (agency:service:channel:day)
local seq = redis.call('INCR', KEYS[1])
local code = ARGV[1] .. '-' .. seq
if not redis.call('SET', 'op:' .. ARGV[2], code, 'NX') then
  return redis.call('GET', 'op:' .. ARGV[2])
end
redis.call('SET', 'dossier:' .. code, ARGV[3])
redis.call('ZADD', 'owner:' .. ARGV[4], seq, code)
redis.call('RPUSH', 'feed:' .. ARGV[4], ARGV[3])
redis.call('RPUSH', 'log', ARGV[3])
redis.call('HINCRBY', 'stats:' .. ARGV[5], 'submitted', 1)
return code
