//! Sorted sets beyond the differential test: blocking pops across clients, Redis 7.2's
//! ZRANK WITHSCORE (Debian's Redis 7.0 lacks it), and a large set checked against a model.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis_tests::{start_slotcache, Frame};

fn words(items: &[&str]) -> Frame {
    Frame::Array(items.iter().map(|w| Frame::bulk(w)).collect())
}

#[test]
fn blocking_pops_wake_in_order_and_ignore_other_types() {
    let server = start_slotcache(&[]);
    let mut control = server.connect();
    let mut first = server.connect();
    first.send_raw(b"BZPOPMIN board 0\r\n");
    control.wait_blocked(1);
    let mut second = server.connect();
    second.send_raw(b"BZMPOP 0 2 other board MAX COUNT 2\r\n");
    control.wait_blocked(2);
    // A list at a watched key does not satisfy a sorted-set waiter.
    control.call(&["RPUSH", "other", "x"]);
    control.call(&["DEL", "other"]);
    assert_eq!(
        control.call(&["ZADD", "board", "3", "c", "1", "a", "2", "b"]),
        Frame::Int(3)
    );
    assert_eq!(first.read(), words(&["board", "a", "1"]));
    assert_eq!(
        second.read(),
        Frame::Array(vec![
            Frame::bulk("board"),
            Frame::Array(vec![words(&["c", "3"]), words(&["b", "2"])]),
        ])
    );
    assert_eq!(control.call(&["EXISTS", "board"]), Frame::Int(0));
    // A client that leaves while blocked is forgotten; the next one is served.
    let mut quitter = server.connect();
    quitter.send_raw(b"BZPOPMAX prizes 0\r\n");
    control.wait_blocked(1);
    drop(quitter);
    control.wait_blocked(0);
    let mut stayer = server.connect();
    stayer.send_raw(b"BZPOPMAX prizes 0\r\n");
    control.wait_blocked(1);
    control.call(&["ZADD", "prizes", "5", "gold", "1", "tin"]);
    assert_eq!(stayer.read(), words(&["prizes", "gold", "5"]));
    assert_eq!(
        control.call(&["ZRANGE", "prizes", "0", "-1"]),
        words(&["tin"])
    );
    // A timeout answers a null array.
    assert_eq!(stayer.call(&["BZPOPMIN", "empty", "0.1"]), Frame::NullArray);
}

#[test]
fn rank_with_score_as_redis_7_2() {
    let server = start_slotcache(&[]);
    let mut conn = server.connect();
    conn.call(&["ZADD", "z", "1.5", "a", "2", "b"]);
    assert_eq!(
        conn.call(&["ZRANK", "z", "b", "WITHSCORE"]),
        Frame::Array(vec![Frame::Int(1), Frame::bulk("2")])
    );
    assert_eq!(
        conn.call(&["ZREVRANK", "z", "b", "withscore"]),
        Frame::Array(vec![Frame::Int(0), Frame::bulk("2")])
    );
    assert_eq!(
        conn.call(&["ZRANK", "z", "nosuch", "WITHSCORE"]),
        Frame::NullArray
    );
    assert_eq!(
        conn.call(&["ZRANK", "z", "a", "WITHSCORES"]),
        Frame::Error("ERR syntax error".into())
    );
    assert_eq!(
        conn.call(&["ZRANK", "z", "a", "WITHSCORE", "x"]),
        Frame::Error("ERR wrong number of arguments for 'zrank' command".into())
    );
}

/// Ten thousand members with many equal scores, changed at random, against a sorted model:
/// ranks, score ranges with offsets, and removals by rank must all agree.
#[test]
fn large_set_matches_a_model() {
    let server = start_slotcache(&[]);
    let mut conn = server.connect();
    let mut rng = StdRng::seed_from_u64(7);
    let mut model: Vec<(i64, String)> = Vec::new();
    let sort = |model: &mut Vec<(i64, String)>| model.sort();
    for i in 0..10_000 {
        let score = rng.random_range(0..500);
        let member = format!("member:{i}");
        model.push((score, member.clone()));
        conn.send_raw(format!("ZADD big {score} {member}\r\n").as_bytes());
    }
    for _ in 0..10_000 {
        assert_eq!(conn.read(), Frame::Int(1));
    }
    sort(&mut model);
    for _ in 0..200 {
        let (score, member) = model[rng.random_range(0..model.len())].clone();
        let new_score = score + rng.random_range(-50..50);
        conn.call(&["ZADD", "big", &new_score.to_string(), &member]);
        let at = model.iter().position(|(_, m)| *m == member).unwrap();
        model[at].0 = new_score;
        sort(&mut model);
        let rank = model.iter().position(|(_, m)| *m == member).unwrap();
        assert_eq!(
            conn.call(&["ZRANK", "big", &member]),
            Frame::Int(rank as i64)
        );
        let low = rng.random_range(-50..550);
        let (offset, count) = (rng.random_range(0..20), rng.random_range(1..30));
        let expected: Vec<&str> = model
            .iter()
            .filter(|(s, _)| *s >= low && *s < low + 10)
            .skip(offset)
            .take(count)
            .map(|(_, m)| m.as_str())
            .collect();
        let reply = conn.call(&[
            "ZRANGE",
            "big",
            &low.to_string(),
            &format!("({}", low + 10),
            "BYSCORE",
            "LIMIT",
            &offset.to_string(),
            &count.to_string(),
        ]);
        assert_eq!(reply, words(&expected), "scores [{low}, {})", low + 10);
    }
    let doomed = conn.call(&["ZREMRANGEBYRANK", "big", "100", "4099"]);
    assert_eq!(doomed, Frame::Int(4000));
    model.drain(100..4100);
    assert_eq!(conn.call(&["ZCARD", "big"]), Frame::Int(model.len() as i64));
    let tail: Vec<&str> = model[model.len() - 5..]
        .iter()
        .map(|(_, m)| m.as_str())
        .collect();
    assert_eq!(conn.call(&["ZRANGE", "big", "-5", "-1"]), words(&tail));
}
