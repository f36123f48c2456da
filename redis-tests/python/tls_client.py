"""redis-py with ssl=True against one TLS port: SET, GET and a pipeline, checking the client
certificate and the CA it was given. Usage: tls_client.py <port> <ca> <cert> <key> <key name>.
Exits non-zero on the first failed check."""

import sys

import redis

PORT, CA, CERT, KEY, NAME = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]

client = redis.Redis(
    host="localhost",
    port=int(PORT),
    ssl=True,
    ssl_ca_certs=CA,
    ssl_certfile=CERT,
    ssl_keyfile=KEY,
    socket_timeout=10,
)
assert client.set(NAME, "from redis-py") is True
assert client.get(NAME) == b"from redis-py"
pipe = client.pipeline(transaction=False)
for i in range(100):
    pipe.set(f"{NAME}:{i}", i)
assert all(pipe.execute())
assert client.get(f"{NAME}:99") == b"99"
print("ok redis-py ssl")
