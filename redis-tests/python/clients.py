"""redis-py through two slotcache proxies: Redis and RedisCluster, as shipped (HELLO 3) and
forced to RESP2, and redis-py's client-side cache (RESP3, CLIENT TRACKING). Usage: clients.py <proxy port> <other proxy port>. Exits non-zero on the first
failed check."""

import sys
import threading
import time

import redis
from redis.cache import CacheConfig
from redis.cluster import RedisCluster
from redis.connection import CacheProxyConnection

# redis-py turns its cache on only for servers whose HELLO says 7.4 or later; slotcache says
# 7.0.15, the version whose commands it implements, and CLIENT TRACKING is 6.0's. Only that
# version gate is lowered: the cache itself runs as shipped.
CacheProxyConnection.MIN_ALLOWED_VERSION = "7.0.0"

PORT, OTHER = int(sys.argv[1]), int(sys.argv[2])


def plain(port, protocol):
    kwargs = {} if protocol is None else {"protocol": protocol}
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, **kwargs)


def clustered(port, protocol):
    kwargs = {} if protocol is None else {"protocol": protocol}
    return RedisCluster(host="127.0.0.1", port=port, decode_responses=True, **kwargs)


def keys_over_all_slots(client, tag):
    keys = [f"{tag}:key:{i}" for i in range(2000)]
    pipe = client.pipeline(transaction=False)
    for i, key in enumerate(keys):
        pipe.set(key, f"v{i}")
    assert all(pipe.execute())
    # RedisCluster's MGET insists on one slot; its own split is mget_nonatomic.
    values = getattr(client, "mget_nonatomic", client.mget)(keys)
    assert values == [f"v{i}" for i in range(2000)], "MGET over every partition"
    assert client.exists(*keys[:50]) == 50
    return keys


def common(client, other, tag):
    keys = keys_over_all_slots(client, tag)
    # Hash tags keep multi-key commands in one slot.
    client.sadd(f"{{{tag}}}:a", "x", "y")
    client.sadd(f"{{{tag}}}:b", "y", "z")
    assert client.sinter(f"{{{tag}}}:a", f"{{{tag}}}:b") == {"y"}
    # Scripts: EVAL routed by its keys, and EVALSHA after SCRIPT LOAD (register_script).
    assert client.eval("return redis.call('GET', KEYS[1])", 1, keys[7]) == "v7"
    getter = client.register_script("return redis.call('GET', KEYS[1])")
    for i in range(0, 2000, 97):
        assert getter(keys=[keys[i]]) == f"v{i}"
    # A pop blocked through one proxy is woken by a push through the other.
    got = []
    waiter = threading.Thread(target=lambda: got.append(client.blpop(f"{tag}:jobs", 10)))
    waiter.start()
    time.sleep(0.3)
    other.rpush(f"{tag}:jobs", "job")
    waiter.join()
    assert got and list(got[0]) == [f"{tag}:jobs", "job"], got
    return keys


def check_plain(protocol):
    tag = f"plain{protocol}"
    client, other = plain(PORT, protocol), plain(OTHER, protocol)
    keys = common(client, other, tag)
    # Multi-key commands split over partitions, merged in key order.
    assert client.delete(*keys[:100]) == 100
    client.mset({f"{tag}:m{i}": str(i) for i in range(30)})
    assert other.mget([f"{tag}:m{i}" for i in range(30)]) == [str(i) for i in range(30)]
    try:
        client.sinter(f"{tag}:a", f"{tag}:b")
        raise AssertionError("cross-slot SINTER accepted")
    except redis.exceptions.ClusterCrossSlotError:
        pass  # redis-py's class for a -CROSSSLOT reply
    # MULTI/EXEC, and WATCH-based compare-and-set racing a writer on the other proxy.
    pipe = client.pipeline(transaction=True)
    pipe.set(f"{{{tag}}}:n", 1).incr(f"{{{tag}}}:n").get(f"{{{tag}}}:n")
    assert pipe.execute() == [True, 2, "2"]
    key = f"{tag}:balance"
    client.set(key, 10)

    def spend(pipe):
        balance = int(pipe.get(key))
        if not spend.raced:
            spend.raced = True
            other.set(key, 100)  # the watched key changes: this attempt must abort
        pipe.multi()
        pipe.set(key, balance - 1)

    spend.raced = False
    client.transaction(spend, key)
    assert client.get(key) == "99", client.get(key)
    # SCAN through one proxy visits the whole cluster, each key once.
    seen = list(client.scan_iter(match=f"{tag}:key:*", count=200))
    assert sorted(seen) == sorted(keys[100:]), (len(seen), len(keys) - 100)
    assert client.dbsize() >= len(keys) - 100
    # Pub/sub: subscribed through one proxy, published through the other.
    pubsub = client.pubsub()
    pubsub.subscribe(f"{tag}:news")
    pubsub.psubscribe(f"{tag}:n*")
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"
    assert pubsub.get_message(timeout=2)["type"] == "psubscribe"
    other.publish(f"{tag}:news", "hello")
    received = []
    deadline = time.time() + 5
    while len(received) < 2 and time.time() < deadline:
        message = pubsub.get_message(timeout=1)
        if message:
            received.append((message["type"], message["channel"], message["data"]))
    assert sorted(received) == [
        ("message", f"{tag}:news", "hello"),
        ("pmessage", f"{tag}:news", "hello"),
    ], received
    pubsub.close()


def check_cluster(protocol):
    tag = f"cluster{protocol}"
    client, other = clustered(PORT, protocol), clustered(OTHER, protocol)
    common(client, other, tag)
    pipe = client.pipeline()
    for i in range(100):
        pipe.incr(f"{tag}:counter:{i % 10}")
    pipe.execute()
    assert client.get(f"{tag}:counter:3") == "10"
    pubsub = client.pubsub()
    pubsub.subscribe(f"{tag}:news")
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"
    other.publish(f"{tag}:news", "hi")
    message = None
    deadline = time.time() + 5
    while message is None and time.time() < deadline:
        message = pubsub.get_message(timeout=1)
    assert message and message["data"] == "hi", message
    pubsub.close()


def eventually(check, what):
    deadline = time.time() + 5
    while not check():
        assert time.time() < deadline, what
        time.sleep(0.05)


def check_client_side_cache():
    """Reads are served from redis-py's cache until a write through the other proxy (or a
    flush) invalidates them, whichever shard server holds the key."""
    cached = redis.Redis(
        host="127.0.0.1", port=PORT, protocol=3, cache_config=CacheConfig(), decode_responses=True
    )
    writer = plain(OTHER, None)
    keys = [f"csc:{i}" for i in range(20)]
    for key in keys:
        writer.set(key, "old")
    assert [cached.get(key) for key in keys] == ["old"] * 20
    cache = cached.get_cache()
    assert cache.size >= 20, cache.size
    # Served from the cache: the proxy sees no read (a changed value there would show).
    for key in keys:
        writer.set(key, "new")
    eventually(lambda: [cached.get(key) for key in keys] == ["new"] * 20, "invalidated by writes")
    writer.flushall()
    eventually(lambda: cached.get(keys[0]) is None, "invalidated by FLUSHALL")
    cached.close()


for protocol in (None, 2):
    check_plain(protocol)
    print(f"ok Redis protocol={protocol or 'default'}", flush=True)
    check_cluster(protocol)
    print(f"ok RedisCluster protocol={protocol or 'default'}", flush=True)
check_client_side_cache()
print("ok client-side cache", flush=True)
