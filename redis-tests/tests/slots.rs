//! slotcache's slot math against a real cluster-enabled redis-server's `CLUSTER KEYSLOT`.

use rand::{Rng, SeedableRng};
use redis_tests::{start_redis, Frame};

#[test]
fn key_slots_match_redis_cluster() {
    // A relative nodes file lands in the server's own temp dir.
    let redis = start_redis(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
    ]);
    let mut conn = redis.connect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut keys: Vec<Vec<u8>> = [
        "",
        "{",
        "}",
        "{}",
        "{}x",
        "a{b}c",
        "{a}{b}",
        "x{{y}}",
        "{user1000}.following",
    ]
    .iter()
    .map(|k| k.as_bytes().to_vec())
    .collect();
    for _ in 0..400 {
        let len = rng.random_range(0..24);
        let key: Vec<u8> = (0..len)
            .map(|_| {
                *b"ab{}:xyz019\x00\xff"
                    .get(rng.random_range(0..14))
                    .unwrap_or(&b'a')
            })
            .collect();
        keys.push(key);
    }
    for key in &keys {
        let reply = conn.call_bytes(&[b"CLUSTER".to_vec(), b"KEYSLOT".to_vec(), key.clone()]);
        assert_eq!(
            reply,
            Frame::Int(slotcache_cluster::key_slot(key) as i64),
            "key {:?}",
            String::from_utf8_lossy(key)
        );
    }
    drop(redis);
}
