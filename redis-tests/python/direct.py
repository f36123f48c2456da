"""redis-py's RedisCluster seeded with one shard server (direct mode): it reads the topology
from CLUSTER SLOTS and talks to the partitions' leaders. Usage: direct.py <server port>. Exits non-zero on the first failed
check."""

import sys

from redis.cluster import RedisCluster

PORT = int(sys.argv[1])

client = RedisCluster(host="127.0.0.1", port=PORT, decode_responses=True)
masters = {(n.host, n.port) for n in client.get_primaries()}
assert len(masters) == 3, f"three leaders, got {masters}"
keys = [f"direct:{i}" for i in range(2000)]
pipe = client.pipeline(transaction=False)
for i, key in enumerate(keys):
    pipe.set(key, f"v{i}")
assert all(pipe.execute())
assert client.mget_nonatomic(keys) == [f"v{i}" for i in range(2000)], "MGET over every slot"
assert client.incr("{direct}:counter") == 1
assert client.eval("return redis.call('GET', KEYS[1])", 1, keys[7]) == "v7"
print("ok RedisCluster direct")
