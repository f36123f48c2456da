//! The random command generator of the differential tests: valid-looking commands of every
//! family over a small pool of keys, with arguments that are often wrong, so errors are
//! compared as carefully as successes.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::Rng;

pub const KEYS: &[&str] = &[
    "k0", "k1", "k2", "{t}a", "{t}b", "n", "h0", "h1", "s0", "s1", "l0", "l1", "z0", "z1", "zl",
];
pub const STREAMS: &[&str] = &["x0", "x1", "k0"];
/// Stream IDs: explicit ones (often too small, hence errors) and `ms-*`, never `*`, whose
/// clock-made IDs would differ between the servers.
const STREAM_IDS: &[&str] = &[
    "1", "2", "3-1", "5", "7-*", "10", "12-*", "0", "x", "-", "+",
];
/// HyperLogLogs, kept out of `KEYS` so string commands never corrupt them.
pub const HLLS: &[&str] = &["p0", "p1", "p2"];
const ZSETS: &[&str] = &["z0", "z1", "z2", "k0", "s0"];
/// Score arguments, bounds included: some are errors, some exclusive.
const SCORES: &[&str] = &[
    "0", "1", "2", "2.5", "-1", "10", "inf", "-inf", "+inf", "(1", "(2.5", "x", "1e2",
];
/// Lex bounds; lex commands only touch `zl`, whose members all score 0 (Redis leaves lex
/// ranges over mixed scores undefined).
const LEX: &[&str] = &["-", "+", "[a", "(a", "[b", "(10", "[", "a", "(zz"];
const LISTS: &[&str] = &["l0", "l1", "l2", "k0", "s0"];
const SETS: &[&str] = &["s0", "s1", "s2", "k0", "h0"];
const MEMBERS: &[&str] = &[
    "1",
    "2",
    "3",
    "-5",
    "10",
    "a",
    "b",
    "",
    "a-member-longer-than-sixty-four-bytes-so-that-the-set-becomes-a-real-dict",
];
const FIELDS: &[&str] = &[
    "f0",
    "f1",
    "f2",
    "f3",
    "",
    "a-field-name-longer-than-sixty-four-bytes-so-the-hash-converts-to-a-table",
];
const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "7",
    "10",
    "42",
    "3.5",
    "-2.25",
    "1e3",
    "abc",
    "hello world",
    " 1",
    "9223372036854775807",
    "-9223372036854775808",
    "0x10",
    "inf",
    "\u{7f}\u{1}bin",
    "a-rather-longer-value-that-does-not-fit-inline-anywhere",
];
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "5",
    "-3",
    "100",
    "-100",
    "x",
    "1.5",
    "9223372036854775807",
    "-9223372036854775808",
    "4294967296",
    "#1",
    "#2",
];
const OPTIONS: &[&str] = &[
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "NX",
    "XX",
    "GT",
    "LT",
    "GET",
    "KEEPTTL",
    "PERSIST",
    "BYTE",
    "BIT",
    "LEN",
    "IDX",
    "WITHMATCHLEN",
    "MINMATCHLEN",
    "REPLACE",
    "DB",
    "AND",
    "OR",
    "XOR",
    "NOT",
    "GET",
    "SET",
    "INCRBY",
    "OVERFLOW",
    "WRAP",
    "SAT",
    "FAIL",
    "u8",
    "i8",
    "i5",
    "u63",
    "i64",
    "u64",
];

/// A valid-looking command of a random family, with random arguments that are often wrong:
/// errors are compared as carefully as successes.
pub fn random_command(rng: &mut StdRng) -> Vec<String> {
    let pick =
        |rng: &mut StdRng, pool: &[&str]| pool.choose(rng).copied().unwrap_or("").to_string();
    let k = pick(rng, KEYS);
    let k2 = pick(rng, KEYS);
    let k3 = pick(rng, KEYS);
    let v = pick(rng, VALUES);
    let n = pick(rng, NUMBERS);
    let far_ttl = rng.random_range(100..100_000).to_string();
    let far_at = (4_000_000_000i64 + rng.random_range(0..1_000_000)).to_string();
    let words: Vec<String> = match rng.random_range(0..110) {
        0 => vec!["SET".into(), k, v],
        1 => vec!["SET".into(), k, v, pick(rng, &["NX", "XX", "GET"])],
        2 => vec!["SET".into(), k, v, pick(rng, &["EX", "PX"]), far_ttl],
        3 => vec![
            "SET".into(),
            k,
            v,
            "KEEPTTL".into(),
            pick(rng, &["GET", "XX", "EX"]),
        ],
        4 => vec!["GET".into(), k],
        5 => vec!["INCR".into(), k],
        6 => vec!["DECRBY".into(), k, n],
        7 => vec!["INCRBY".into(), k, n],
        8 => vec!["INCRBYFLOAT".into(), k, pick(rng, VALUES)],
        9 => vec!["APPEND".into(), k, v],
        10 => vec!["STRLEN".into(), k],
        11 => vec!["GETRANGE".into(), k, n, pick(rng, NUMBERS)],
        12 => vec![
            "SETRANGE".into(),
            k,
            pick(rng, &["0", "1", "3", "-1", "x", "20"]),
            v,
        ],
        13 => vec!["MSET".into(), k, v, k2.clone(), pick(rng, VALUES)],
        14 => vec!["MGET".into(), k, k2.clone(), k3.clone()],
        15 => vec!["MSETNX".into(), k, v, k2.clone(), pick(rng, VALUES)],
        16 => vec!["GETSET".into(), k, v],
        17 => vec!["GETDEL".into(), k],
        18 => vec![
            "GETEX".into(),
            k,
            pick(rng, &["EX", "PX", "PERSIST"]),
            far_ttl,
        ],
        19 => vec!["SETNX".into(), k, v],
        20 => vec![
            "SETEX".into(),
            k,
            pick(rng, &[far_ttl.as_str(), "0", "-5", "x"]),
            v,
        ],
        21 => vec!["DEL".into(), k, k2.clone()],
        22 => vec!["EXISTS".into(), k, k2.clone(), k3.clone()],
        23 => vec![
            "EXPIRE".into(),
            k,
            pick(rng, &[far_ttl.as_str(), "-1", "0", "x"]),
            pick(rng, &["NX", "XX", "GT", "LT", "<omit>"]),
        ],
        24 => vec![
            "PEXPIREAT".into(),
            k,
            far_at.clone() + "000",
            pick(rng, &["NX", "XX", "GT", "LT"]),
        ],
        25 => vec!["TTL".into(), k],
        26 => vec!["PTTL".into(), k],
        27 => vec!["PERSIST".into(), k],
        28 => vec!["RENAME".into(), k, k2.clone()],
        29 => vec!["RENAMENX".into(), k, k2.clone()],
        30 => vec![
            "COPY".into(),
            k,
            k2.clone(),
            pick(rng, &["REPLACE", "DB", "<omit>"]),
        ],
        31 => vec!["TYPE".into(), k],
        32 => vec!["KEYS".into(), pick(rng, &["*", "k*", "{t}*", "?", "k[01]"])],
        33 => vec![
            "SETBIT".into(),
            k,
            pick(rng, &["0", "7", "15", "100", "-1", "x"]),
            pick(rng, &["0", "1", "2"]),
        ],
        34 => vec!["GETBIT".into(), k, n],
        35 => vec![
            "BITCOUNT".into(),
            k,
            n,
            pick(rng, NUMBERS),
            pick(rng, &["BYTE", "BIT", "<omit>"]),
        ],
        36 => vec![
            "BITPOS".into(),
            k,
            pick(rng, &["0", "1", "2"]),
            n,
            pick(rng, NUMBERS),
            pick(rng, &["BYTE", "BIT", "<omit>"]),
        ],
        37 => vec![
            "BITOP".into(),
            pick(rng, &["AND", "OR", "XOR", "NOT", "FOO"]),
            k,
            k2.clone(),
            k3.clone(),
        ],
        38 => vec![
            "BITFIELD".into(),
            k,
            pick(rng, &["GET", "SET", "INCRBY"]),
            pick(rng, &["u8", "i8", "i5", "u63", "i64", "u64", "x"]),
            pick(rng, &["0", "3", "#1", "100"]),
            n,
        ],
        39 => vec![
            "BITFIELD".into(),
            k,
            "OVERFLOW".into(),
            pick(rng, &["WRAP", "SAT", "FAIL", "BAD"]),
            "INCRBY".into(),
            pick(rng, &["u8", "i8", "i5"]),
            "0".into(),
            n,
        ],
        40 => vec![
            "BITFIELD_RO".into(),
            k,
            pick(rng, &["GET", "SET"]),
            "u8".into(),
            "0".into(),
        ],
        41 => vec![
            "LCS".into(),
            k,
            k2.clone(),
            pick(rng, &["LEN", "IDX", "<omit>", "WITHMATCHLEN"]),
            pick(rng, &["IDX", "MINMATCHLEN", "<omit>"]),
            pick(rng, &["1", "2", "<omit>"]),
        ],
        42 => vec!["TOUCH".into(), k, k2.clone()],
        43 => vec!["EXPIRETIME".into(), k],
        44 => vec!["UNLINK".into(), k],
        45 => vec!["DBSIZE".into()],
        46 => vec!["MOVE".into(), k, pick(rng, &["0", "1", "16", "x"])],
        47 => vec![
            "HSET".into(),
            pick(rng, &["h0", "h1", "k0"]),
            pick(rng, FIELDS),
            v,
            pick(rng, FIELDS),
            pick(rng, VALUES),
        ],
        48 => vec![
            "HGET".into(),
            pick(rng, &["h0", "h1", "k0"]),
            pick(rng, FIELDS),
        ],
        49 => vec![
            "HDEL".into(),
            pick(rng, &["h0", "h1", "k0"]),
            pick(rng, FIELDS),
            pick(rng, FIELDS),
        ],
        50 => vec!["HGETALL".into(), pick(rng, &["h0", "h1", "k0"])],
        51 => vec![
            "HINCRBY".into(),
            pick(rng, &["h0", "h1"]),
            pick(rng, FIELDS),
            n,
        ],
        52 => vec![
            "HINCRBYFLOAT".into(),
            pick(rng, &["h0", "h1"]),
            pick(rng, FIELDS),
            pick(rng, VALUES),
        ],
        53 => vec![
            pick(rng, &["HLEN", "HKEYS", "HVALS"]),
            pick(rng, &["h0", "h1", "k0"]),
        ],
        54 => vec![
            pick(rng, &["HEXISTS", "HSTRLEN"]),
            pick(rng, &["h0", "h1"]),
            pick(rng, FIELDS),
        ],
        55 => vec![
            "HSETNX".into(),
            pick(rng, &["h0", "h1"]),
            pick(rng, FIELDS),
            v,
        ],
        56 => vec![
            "HMGET".into(),
            pick(rng, &["h0", "h1", "k0"]),
            pick(rng, FIELDS),
            pick(rng, FIELDS),
        ],
        57 => vec![
            "HRANDFIELD".into(),
            pick(rng, &["h0", "h1", "k0"]),
            pick(rng, &["-5", "0", "2", "100", "x", "<omit>"]),
            pick(rng, &["WITHVALUES", "<omit>"]),
        ],
        59 => vec![
            "SADD".into(),
            pick(rng, SETS),
            pick(rng, MEMBERS),
            pick(rng, MEMBERS),
            pick(rng, &["4", "c", "<omit>"]),
        ],
        60 => vec![
            "SREM".into(),
            pick(rng, SETS),
            pick(rng, MEMBERS),
            pick(rng, MEMBERS),
        ],
        61 => vec![pick(rng, &["SMEMBERS", "SCARD"]), pick(rng, SETS)],
        62 => vec![
            pick(rng, &["SISMEMBER", "SMISMEMBER"]),
            pick(rng, SETS),
            pick(rng, MEMBERS),
        ],
        63 => vec![
            pick(rng, &["SINTER", "SUNION", "SDIFF"]),
            pick(rng, SETS),
            pick(rng, SETS),
            pick(rng, &["s2", "<omit>"]),
        ],
        64 => vec![
            pick(rng, &["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]),
            pick(rng, &["s2", "d0"]),
            pick(rng, SETS),
            pick(rng, SETS),
        ],
        65 => vec![
            "SMOVE".into(),
            pick(rng, SETS),
            pick(rng, SETS),
            pick(rng, MEMBERS),
        ],
        66 => vec![
            "SINTERCARD".into(),
            pick(rng, &["1", "2", "0", "3", "x"]),
            pick(rng, SETS),
            pick(rng, SETS),
            pick(rng, &["LIMIT", "<omit>"]),
            pick(rng, &["1", "0", "-1", "<omit>"]),
        ],
        67 => vec![
            "SRANDMEMBER".into(),
            pick(rng, SETS),
            pick(rng, &["-3", "0", "100", "x", "<omit>"]),
        ],
        // Only pops whose result is determined: the whole set.
        68 => vec![
            "SPOP".into(),
            pick(rng, SETS),
            pick(rng, &["100", "-1", "x"]),
        ],
        69 => vec![
            "SSCAN".into(),
            pick(rng, SETS),
            pick(rng, &["0", "x"]),
            pick(rng, &["MATCH", "COUNT", "<omit>"]),
            pick(rng, &["*a*", "100", "<omit>"]),
        ],
        70 => vec![
            pick(rng, &["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]),
            pick(rng, LISTS),
            pick(rng, MEMBERS),
            pick(rng, &["a", "b", "<omit>"]),
        ],
        71 => vec![
            pick(rng, &["LPOP", "RPOP"]),
            pick(rng, LISTS),
            pick(rng, &["0", "1", "3", "-1", "x", "<omit>"]),
        ],
        72 => vec!["LRANGE".into(), pick(rng, LISTS), n, pick(rng, NUMBERS)],
        73 => vec!["LINDEX".into(), pick(rng, LISTS), n],
        74 => vec!["LSET".into(), pick(rng, LISTS), n, v],
        75 => vec![
            "LINSERT".into(),
            pick(rng, LISTS),
            pick(rng, &["BEFORE", "AFTER", "UP"]),
            pick(rng, MEMBERS),
            v,
        ],
        76 => vec![
            "LREM".into(),
            pick(rng, LISTS),
            pick(rng, &["0", "1", "-1", "2", "x"]),
            pick(rng, MEMBERS),
        ],
        77 => vec!["LTRIM".into(), pick(rng, LISTS), n, pick(rng, NUMBERS)],
        78 => vec![
            "LPOS".into(),
            pick(rng, LISTS),
            pick(rng, MEMBERS),
            pick(rng, &["RANK", "COUNT", "MAXLEN", "<omit>"]),
            pick(rng, &["1", "-1", "2", "0", "<omit>"]),
        ],
        79 => vec![
            "LMOVE".into(),
            pick(rng, LISTS),
            pick(rng, LISTS),
            pick(rng, &["LEFT", "RIGHT"]),
            pick(rng, &["LEFT", "RIGHT", "UP"]),
        ],
        80 => vec![
            "LMPOP".into(),
            pick(rng, &["1", "2", "0"]),
            pick(rng, LISTS),
            pick(rng, LISTS),
            pick(rng, &["LEFT", "RIGHT"]),
            pick(rng, &["COUNT", "<omit>"]),
            pick(rng, &["2", "0", "<omit>"]),
        ],
        81 => vec![
            pick(rng, &["LLEN", "LRANGE"]),
            pick(rng, LISTS),
            "0".into(),
            "-1".into(),
        ],
        82 => vec![
            "ZADD".into(),
            pick(rng, ZSETS),
            pick(rng, &["NX", "XX", "GT", "LT", "CH", "INCR", "<omit>"]),
            pick(rng, &["CH", "GT", "<omit>"]),
            pick(rng, SCORES),
            pick(rng, MEMBERS),
            pick(rng, &["3", "-2", "<omit>"]),
            pick(rng, MEMBERS),
        ],
        83 => vec!["ZADD".into(), "zl".into(), "0".into(), pick(rng, MEMBERS)],
        84 => vec![
            pick(rng, &["ZSCORE", "ZRANK", "ZREVRANK", "ZREM"]),
            pick(rng, ZSETS),
            pick(rng, MEMBERS),
        ],
        85 => vec![
            "ZINCRBY".into(),
            pick(rng, ZSETS),
            pick(rng, SCORES),
            pick(rng, MEMBERS),
        ],
        86 => vec![
            pick(
                rng,
                &[
                    "ZCOUNT",
                    "ZREMRANGEBYSCORE",
                    "ZRANGEBYSCORE",
                    "ZREVRANGEBYSCORE",
                ],
            ),
            pick(rng, ZSETS),
            pick(rng, SCORES),
            pick(rng, SCORES),
            pick(rng, &["WITHSCORES", "LIMIT", "<omit>"]),
        ],
        87 => vec![
            "ZRANGE".into(),
            pick(rng, ZSETS),
            pick(rng, &["0", "1", "-1", "-3", "(1", "-inf", "x"]),
            pick(rng, &["-1", "2", "5", "+inf", "(3", "0"]),
            pick(rng, &["BYSCORE", "REV", "WITHSCORES", "<omit>"]),
            pick(rng, &["REV", "WITHSCORES", "<omit>"]),
            pick(rng, &["LIMIT", "<omit>"]),
            pick(rng, &["1", "0", "-1"]),
            pick(rng, &["2", "-1", "0"]),
        ],
        88 => vec![
            pick(
                rng,
                &[
                    "ZRANGEBYLEX",
                    "ZREVRANGEBYLEX",
                    "ZLEXCOUNT",
                    "ZREMRANGEBYLEX",
                ],
            ),
            "zl".into(),
            pick(rng, LEX),
            pick(rng, LEX),
            pick(rng, &["LIMIT", "<omit>"]),
            pick(rng, &["1", "0", "-1"]),
            pick(rng, &["2", "-1", "0"]),
        ],
        89 => vec![
            pick(rng, &["ZREMRANGEBYRANK", "ZREVRANGE"]),
            pick(rng, ZSETS),
            pick(rng, &["0", "1", "-1", "-2", "x"]),
            pick(rng, &["0", "1", "-1", "3"]),
        ],
        90 => vec![
            pick(rng, &["ZPOPMIN", "ZPOPMAX"]),
            pick(rng, ZSETS),
            pick(rng, &["1", "2", "0", "-1", "<omit>"]),
        ],
        91 => vec![
            "ZMPOP".into(),
            pick(rng, &["1", "2", "0"]),
            pick(rng, ZSETS),
            pick(rng, ZSETS),
            pick(rng, &["MIN", "MAX"]),
            pick(rng, &["COUNT", "<omit>"]),
            pick(rng, &["2", "0", "<omit>"]),
        ],
        92 => vec![
            pick(rng, &["ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD"]),
            pick(rng, &["2", "1", "3"]),
            pick(rng, ZSETS),
            pick(rng, ZSETS),
            pick(
                rng,
                &["WEIGHTS", "AGGREGATE", "WITHSCORES", "LIMIT", "<omit>"],
            ),
            pick(rng, &["2", "MAX", "MIN", "WITHSCORES", "<omit>"]),
            pick(rng, &["-1", "<omit>"]),
        ],
        93 => vec![
            pick(rng, &["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]),
            pick(rng, ZSETS),
            "2".into(),
            pick(rng, ZSETS),
            pick(rng, ZSETS),
            pick(rng, &["AGGREGATE", "<omit>"]),
            pick(rng, &["MIN", "<omit>"]),
        ],
        94 => vec![
            "ZRANGESTORE".into(),
            pick(rng, ZSETS),
            pick(rng, ZSETS),
            pick(rng, &["0", "1", "-inf"]),
            pick(rng, &["-1", "2", "+inf"]),
            pick(rng, &["BYSCORE", "REV", "<omit>"]),
        ],
        95 => vec![
            pick(rng, &["ZCARD", "ZRANGE"]),
            pick(rng, ZSETS),
            "0".into(),
            "-1".into(),
            "WITHSCORES".into(),
        ],
        96 => vec![
            "ZMSCORE".into(),
            pick(rng, ZSETS),
            pick(rng, MEMBERS),
            pick(rng, MEMBERS),
        ],
        97 => vec![
            "ZRANDMEMBER".into(),
            pick(rng, ZSETS),
            pick(rng, &["1", "-3", "0", "x", "<omit>"]),
            pick(rng, &["WITHSCORES", "<omit>"]),
        ],
        98 => vec![
            "ZSCAN".into(),
            pick(rng, ZSETS),
            pick(rng, &["0", "x"]),
            pick(rng, &["MATCH", "COUNT", "<omit>"]),
            pick(rng, &["a*", "100", "<omit>"]),
        ],
        99 => vec![
            "PFADD".into(),
            // Not the string keys: APPEND to an HLL corrupts it, and what Redis then answers
            // depends on where its in-place sparse update happens to stop reading.
            pick(rng, &["p0", "p1", "p2", "s0"]),
            pick(rng, MEMBERS),
            pick(rng, VALUES),
        ],
        100 => vec![
            pick(rng, &["PFCOUNT", "PFMERGE"]),
            pick(rng, HLLS),
            pick(rng, &["p0", "p1", "h0", "k0", "<omit>"]),
        ],
        101 => vec![
            "XADD".into(),
            pick(rng, STREAMS),
            pick(rng, &["MAXLEN", "MINID", "NOMKSTREAM", "<omit>"]),
            pick(rng, &["~", "=", "<omit>"]),
            pick(rng, &["2", "5", "0", "<omit>"]),
            pick(rng, STREAM_IDS),
            pick(rng, FIELDS),
            v,
        ],
        102 => vec![
            pick(rng, &["XRANGE", "XREVRANGE", "XDEL", "XLEN", "XTRIM"]),
            pick(rng, STREAMS),
            pick(rng, STREAM_IDS),
            pick(rng, STREAM_IDS),
            pick(rng, &["COUNT", "<omit>"]),
            pick(rng, &["1", "2", "0", "<omit>"]),
        ],
        103 => vec![
            "XGROUP".into(),
            pick(
                rng,
                &[
                    "CREATE",
                    "SETID",
                    "DESTROY",
                    "CREATECONSUMER",
                    "DELCONSUMER",
                ],
            ),
            pick(rng, STREAMS),
            pick(rng, &["g0", "g1"]),
            pick(rng, &["0", "$", "3-1", "c0", "<omit>"]),
            pick(rng, &["MKSTREAM", "ENTRIESREAD", "<omit>"]),
            pick(rng, &["1", "<omit>"]),
        ],
        104 => vec![
            "XREADGROUP".into(),
            "GROUP".into(),
            pick(rng, &["g0", "g1"]),
            pick(rng, &["c0", "c1"]),
            pick(rng, &["COUNT", "NOACK", "<omit>"]),
            pick(rng, &["2", "<omit>"]),
            "STREAMS".into(),
            pick(rng, STREAMS),
            pick(rng, &[">", "0", "2"]),
        ],
        105 => vec![
            pick(rng, &["XACK", "XCLAIM", "XAUTOCLAIM", "XPENDING"]),
            pick(rng, STREAMS),
            pick(rng, &["g0", "g1"]),
            pick(rng, &["c0", "c1", "1", "-"]),
            pick(rng, &["0", "2", "+"]),
            pick(rng, &["1", "2", "3-1", "10"]),
            pick(rng, &["JUSTID", "FORCE", "<omit>"]),
        ],
        106 => vec![
            "XREAD".into(),
            pick(rng, &["COUNT", "<omit>"]),
            pick(rng, &["1", "<omit>"]),
            "STREAMS".into(),
            pick(rng, STREAMS),
            pick(rng, &["0", "$", "2"]),
        ],
        107 => vec![
            "EVAL".into(),
            pick(
                rng,
                &[
                    "return redis.call('get', KEYS[1])",
                    "return redis.call('incrby', KEYS[1], ARGV[1])",
                    "return redis.pcall('lpush', KEYS[1], ARGV[1])",
                    "return {redis.call('type', KEYS[1]), redis.call('exists', KEYS[1])}",
                    "redis.call('del', KEYS[1]) return redis.call('set', KEYS[1], ARGV[1])",
                    "return redis.call('zadd', KEYS[1], 1, ARGV[1])",
                ],
            ),
            "1".into(),
            k,
            n,
        ],
        108 => vec![
            "EVAL".into(),
            "return redis.call(ARGV[1], KEYS[1], ARGV[2])".into(),
            "1".into(),
            k,
            pick(rng, &["sadd", "hget", "append", "getdel", "llen", "nosuch"]),
            v,
        ],
        58 => vec![
            "HSCAN".into(),
            pick(rng, &["h0", "h1", "k0"]),
            pick(rng, &["0", "x"]),
            pick(rng, &["MATCH", "COUNT", "<omit>"]),
            pick(rng, &["f*", "100", "<omit>"]),
        ],
        // Fully random words: arity and syntax errors.
        _ => {
            let name = pick(
                rng,
                &[
                    "SET",
                    "GET",
                    "GETEX",
                    "SETRANGE",
                    "BITCOUNT",
                    "EXPIRE",
                    "LCS",
                    "COPY",
                    "RESTORE",
                    "BITFIELD",
                    "OBJECT",
                    "NOSUCHCMD",
                ],
            );
            let count = rng.random_range(0..5);
            let mut words = vec![name];
            for _ in 0..count {
                let pool = [KEYS, VALUES, NUMBERS, OPTIONS][rng.random_range(0..4)];
                words.push(pick(rng, pool));
            }
            words
        }
    };
    words.into_iter().filter(|w| w != "<omit>").collect()
}
