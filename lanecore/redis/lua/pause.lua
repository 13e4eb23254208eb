-- pause: ARGV[2] lane, ARGV[3] '1' to pause or '0' to resume dispatch from it.
redis.call('HSET', lane_key(ARGV[2]), 'pause', ARGV[3])
if ARGV[3] == '0' then wake() end
return 1
