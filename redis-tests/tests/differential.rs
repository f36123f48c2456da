//! The same command sequences go to `slotcache-server` and to Debian's `redis-server` 7; every
//! reply must be identical (OBJECT ENCODING excepted). Scripted cases cover each command's
//! options and errors; seeded random sequences explore interactions between them.

#[path = "differential/random.rs"]
mod random;

use rand::rngs::StdRng;
use rand::SeedableRng;
use random::{random_command, HLLS, KEYS, STREAMS};
use redis_tests::{start_redis, start_slotcache, Conn, Frame, Process};

/// How two replies are compared.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Compare {
    Exact,
    /// Order is unspecified (KEYS, SCAN): compare sorted.
    Sorted,
    /// Time-dependent integers (PTTL): equal sign, within a tolerance.
    Near(i64),
    /// Random picks (HRANDFIELD): same kind of reply with as many elements.
    Shape,
    /// Stream introspection (XINFO, XPENDING): exact but for idle and delivery times, and
    /// Redis's radix-tree node count, which depends on its tree's internals; ACL LOG: exact
    /// but for the entries' ages and client lines.
    Timed,
    /// ACL rules (ACL LIST, GETUSER): exact, except that the single commands after the
    /// categories come in Redis's hash order, which is random per process: compared sorted.
    Rules,
}

const TIMED_KEYS: &[&[u8]] = &[
    b"idle",
    b"seen-time",
    b"radix-tree-nodes",
    b"age-seconds",
    b"client-info",
];

/// Sorts the single-command rules that end each description of command rules.
fn sort_single_commands(frame: &Frame) -> Frame {
    match frame {
        Frame::Bulk(text) if text.windows(4).any(|w| w == b"@all") => {
            let text = String::from_utf8_lossy(text);
            let words: Vec<&str> = text.split(' ').collect();
            // A selector's rules end at its `)`; each run of `+cmd`/`-cmd` words is sorted.
            let mut out: Vec<String> = Vec::new();
            let mut run: Vec<&str> = Vec::new();
            for word in words {
                let single = (word.starts_with('+') || word.starts_with('-'))
                    && !word.starts_with("+@")
                    && !word.starts_with("-@");
                if single && !word.ends_with(')') {
                    run.push(word);
                    continue;
                }
                run.sort_unstable();
                out.extend(run.drain(..).map(String::from));
                out.push(word.to_string());
            }
            run.sort_unstable();
            out.extend(run.drain(..).map(String::from));
            Frame::Bulk(out.join(" ").into_bytes())
        }
        Frame::Array(items) => Frame::Array(items.iter().map(sort_single_commands).collect()),
        Frame::Map(pairs) => Frame::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.clone(), sort_single_commands(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn is_stream_id(frame: &Frame) -> bool {
    let Frame::Bulk(text) = frame else {
        return false;
    };
    let text = String::from_utf8_lossy(text);
    text.split_once('-')
        .is_some_and(|(ms, seq)| ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok())
}

/// Nulls what [`Compare::Timed`] leaves out: the value after a timed key, and the first
/// integer of a pending-entry row (one that starts with a stream ID).
fn mask_times(frame: &Frame) -> Frame {
    let mask_list = |items: &[Frame]| -> Vec<Frame> {
        let mut out: Vec<Frame> = items.iter().map(mask_times).collect();
        let mut masked_row = !is_stream_id(items.first().unwrap_or(&Frame::Null));
        for i in 0..out.len() {
            if i > 0 && matches!(&out[i - 1], Frame::Bulk(k) if TIMED_KEYS.contains(&&k[..])) {
                out[i] = Frame::Null;
            } else if !masked_row && matches!(out[i], Frame::Int(_)) {
                out[i] = Frame::Null;
                masked_row = true;
            }
        }
        out
    };
    match frame {
        Frame::Array(items) => Frame::Array(mask_list(items)),
        Frame::Map(pairs) => Frame::Map(
            pairs
                .iter()
                .map(|(k, v)| match k {
                    Frame::Bulk(key) if TIMED_KEYS.contains(&&key[..]) => (k.clone(), Frame::Null),
                    _ => (k.clone(), mask_times(v)),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn split_line(line: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut quoted = false;
    let mut has = false;
    let mut bytes = line.bytes().peekable();
    while let Some(c) = bytes.next() {
        match c {
            // `\n` inside quotes is a newline (a library's first line ends with one).
            b'\\' if quoted && bytes.peek() == Some(&b'n') => {
                bytes.next();
                current.push(b'\n');
            }
            b'"' => {
                quoted = !quoted;
                has = true;
            }
            b' ' if !quoted => {
                if has {
                    out.push(std::mem::take(&mut current));
                    has = false;
                }
            }
            _ => {
                current.push(c);
                has = true;
            }
        }
    }
    if has {
        out.push(current);
    }
    out
}

/// How to compare a command's replies. `random` sequences may grow hashes past the packed
/// encoding, whose iteration order (unlike the packed one) is an implementation detail.
fn mode_for(args: &[Vec<u8>], random: bool) -> Compare {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    match name.as_str() {
        "keys" | "scan" => Compare::Sorted,
        "hgetall" | "hkeys" | "hvals" | "hscan" | "zscan" if random => Compare::Sorted,
        "hrandfield" | "srandmember" | "zrandmember" => Compare::Shape,
        "smembers" | "sinter" | "sunion" | "sdiff" | "sscan" | "spop" => Compare::Sorted,
        "pttl" | "pexpiretime" => Compare::Near(2000),
        "xinfo" | "xpending" => Compare::Timed,
        // An ID generated from the clock.
        "xadd" if args.iter().any(|a| a == b"*" || a.ends_with(b"-*")) => Compare::Shape,
        "expiretime" => Compare::Near(2),
        "acl" if args.len() > 1 => match String::from_utf8_lossy(&args[1])
            .to_ascii_lowercase()
            .as_str()
        {
            "log" => Compare::Timed,
            "list" | "getuser" => Compare::Rules,
            "genpass" => Compare::Shape,
            // A category's commands come in Redis's hash order.
            "cat" => Compare::Sorted,
            _ => Compare::Exact,
        },
        _ => Compare::Exact,
    }
}

/// The kind of a reply and its element count, for random replies.
fn shape(frame: &Frame) -> (std::mem::Discriminant<Frame>, usize) {
    let len = match frame {
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => items.len(),
        Frame::Map(pairs) => pairs.len(),
        _ => 0,
    };
    (std::mem::discriminant(frame), len)
}

fn same(a: &Frame, b: &Frame, mode: Compare) -> bool {
    match mode {
        // An error is never random: compare it exactly.
        Compare::Shape if matches!(a, Frame::Error(_)) || matches!(b, Frame::Error(_)) => a == b,
        Compare::Shape => shape(a) == shape(b),
        Compare::Exact => a == b,
        Compare::Timed => mask_times(a) == mask_times(b),
        Compare::Rules => sort_single_commands(a) == sort_single_commands(b),
        Compare::Sorted => a.sorted() == b.sorted(),
        Compare::Near(tolerance) => match (a.as_int(), b.as_int()) {
            (Some(x), Some(y)) if x < 0 || y < 0 => x == y,
            (Some(x), Some(y)) => (x - y).abs() <= tolerance,
            _ => a == b,
        },
    }
}

struct Pair {
    ours: Process,
    redis: Process,
    ours_conn: Conn,
    redis_conn: Conn,
    mismatches: Vec<String>,
    compared: usize,
    resp3: bool,
}

impl Pair {
    fn new() -> Pair {
        let ours = start_slotcache(&[]);
        let redis = start_redis(&[]);
        let ours_conn = ours.connect();
        let redis_conn = redis.connect();
        Pair {
            ours,
            redis,
            ours_conn,
            redis_conn,
            mismatches: Vec::new(),
            compared: 0,
            resp3: false,
        }
    }

    fn reset(&mut self) {
        self.ours_conn = self.ours.connect();
        self.redis_conn = self.redis.connect();
        if self.resp3 {
            // HELLO's reply carries the connection id, which differs: switch without comparing.
            let hello = [b"HELLO".to_vec(), b"3".to_vec()];
            self.ours_conn.call_bytes(&hello);
            self.redis_conn.call_bytes(&hello);
        }
        self.run(&[b"FLUSHALL".to_vec()], Compare::Exact, "reset");
        // ACL blocks leave users and log entries behind; the default user is left nopass.
        let users = self
            .ours_conn
            .call_bytes(&[b"ACL".to_vec(), b"USERS".to_vec()]);
        if let Frame::Array(names) = users {
            for name in names {
                let Frame::Bulk(name) = name else { continue };
                if &name[..] != b"default" {
                    let delete = [b"ACL".to_vec(), b"DELUSER".to_vec(), name.to_vec()];
                    self.run(&delete, Compare::Exact, "reset");
                }
            }
        }
        let log_reset = [b"ACL".to_vec(), b"LOG".to_vec(), b"RESET".to_vec()];
        self.run(&log_reset, Compare::Exact, "reset");
    }

    fn run(&mut self, args: &[Vec<u8>], mode: Compare, context: &str) {
        let a = self.ours_conn.call_bytes(args);
        let b = self.redis_conn.call_bytes(args);
        self.compared += 1;
        if !same(&a, &b, mode) {
            let shown: Vec<String> = args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            // The reference's view of the first key helps reading the failure.
            let key_state = match args.get(1) {
                Some(key) => self
                    .redis_conn
                    .call_bytes(&[b"GET".to_vec(), key.clone()])
                    .display(),
                None => String::new(),
            };
            self.mismatches.push(format!(
                "[{context}] {}\n    slotcache: {}\n    redis:     {}\n    (redis GET of the first argument: {key_state})",
                shown.join(" "),
                a.display(),
                b.display()
            ));
        }
    }

    fn finish(self, what: &str) {
        assert!(self.compared > 0, "{what}: nothing compared");
        assert!(
            self.mismatches.is_empty(),
            "{what}: {} of {} replies differ:\n{}",
            self.mismatches.len(),
            self.compared,
            self.mismatches
                .iter()
                .take(25)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        eprintln!("{what}: {} replies identical", self.compared);
    }
}

/// Scripted cases: blank-line separated blocks, each run on empty servers; `sleep <ms>` lines
/// pause both.
const SCRIPT: &str = include_str!("differential_cases.txt");

#[test]
fn scripted_cases_match_redis() {
    run_script(Pair::new(), "scripted (RESP2)");
}

#[test]
fn scripted_cases_match_redis_over_resp3() {
    let mut pair = Pair::new();
    pair.resp3 = true;
    run_script(pair, "scripted (RESP3)");
}

fn run_script(mut pair: Pair, what: &str) {
    for (n, block) in SCRIPT.split("\n\n").enumerate() {
        pair.reset();
        for line in block.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // `sleep <ms>` lets deadlines pass between commands.
            if let Some(ms) = line.strip_prefix("sleep ") {
                let ms: u64 = ms.parse().expect("sleep takes milliseconds");
                std::thread::sleep(std::time::Duration::from_millis(ms));
                continue;
            }
            let args = split_line(line);
            let mode = mode_for(&args, false);
            pair.run(&args, mode, &format!("block {n}"));
        }
    }
    pair.finish(what);
}

#[test]
fn command_table_matches_redis() {
    let mut pair = Pair::new();
    // Every command we implement, except containers whose subcommand lists differ on purpose.
    let names = match pair.ours_conn.call(&["COMMAND", "LIST"]) {
        Frame::Array(items) => items,
        other => panic!("COMMAND LIST: {other:?}"),
    };
    for name in names {
        let Frame::Bulk(name) = name else { continue };
        let text = String::from_utf8_lossy(&name).into_owned();
        if [
            "client",
            "config",
            "command",
            "object",
            "pubsub",
            // Redis 7.2's, which 7.0 lacks.
            "client|setinfo",
            "client|no-touch",
            // Redis 7.2's arity, for WITHSCORE; 7.0 has 3.
            "zrank",
            "zrevrank",
            // Containers list subcommands in Redis's hash order; each subcommand is compared.
            "acl",
            "xgroup",
            "xinfo",
            // Redis's SCRIPT also has DEBUG, for its Lua debugger.
            "script",
            // Containers list subcommands in Redis's hash order; each subcommand is compared.
            "function",
            "memory",
            "slowlog",
            "latency",
            // A shard server answers only the slot questions of CLUSTER, plus its own
            // PARTITION (the proxy's way to address a partition), DIGEST (comparing copies)
            // and HOTKEYS (the keys with the highest LFU counters).
            "cluster",
            "cluster|digest",
            "cluster|hotkeys",
            "cluster|partition",
        ]
        .contains(&text.as_str())
            || text.ends_with("|help")
        {
            continue;
        }
        pair.run(
            &[b"COMMAND".to_vec(), b"INFO".to_vec(), name.clone()],
            Compare::Exact,
            "command info",
        );
    }
    for line in [
        "COMMAND GETKEYS SET a b",
        "COMMAND GETKEYS MSET a 1 b 2 c 3",
        "COMMAND GETKEYS BITOP AND dst s1 s2",
        "COMMAND GETKEYS LCS x y",
        "COMMAND GETKEYS COPY a b DB 1",
        "COMMAND GETKEYS PING",
        "COMMAND GETKEYS NOSUCH a",
        "COMMAND GETKEYS GET",
    ] {
        pair.run(&split_line(line), Compare::Exact, "getkeys");
    }
    pair.finish("command table");
}

#[test]
fn random_sequences_match_redis() {
    let mut pair = Pair::new();
    for seed in 1..=6u64 {
        pair.reset();
        let mut rng = StdRng::seed_from_u64(seed);
        for i in 0..1500 {
            let words = random_command(&mut rng);
            let args: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
            if args.is_empty() {
                continue;
            }
            let mode = mode_for(&args, true);
            pair.run(&args, mode, &format!("seed {seed}"));
            // Keyspaces must agree all along, not only replies.
            if i % 25 == 0 || std::env::var_os("DIFF_EVERY").is_some() {
                let keys: Vec<Vec<u8>> = vec![b"KEYS".to_vec(), b"*".to_vec()];
                pair.run(
                    &keys,
                    Compare::Sorted,
                    &format!("seed {seed} keyspace after {i}"),
                );
            }
        }
        // The final keyspaces must agree too.
        for key in KEYS.iter().chain(HLLS).chain(STREAMS) {
            let args: Vec<Vec<u8>> = vec![b"GET".to_vec(), key.as_bytes().to_vec()];
            pair.run(&args, Compare::Exact, &format!("seed {seed} final"));
            let args: Vec<Vec<u8>> = vec![b"TYPE".to_vec(), key.as_bytes().to_vec()];
            pair.run(&args, Compare::Exact, &format!("seed {seed} final"));
            let args: Vec<Vec<u8>> = vec![b"TTL".to_vec(), key.as_bytes().to_vec()];
            pair.run(&args, Compare::Exact, &format!("seed {seed} final"));
            for words in [
                vec!["ZRANGE", key, "0", "-1", "WITHSCORES"],
                vec!["XRANGE", key, "-", "+"],
                vec!["XINFO", "GROUPS", key],
                vec!["XINFO", "STREAM", key],
            ] {
                let args: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
                let mode = mode_for(&args, true);
                pair.run(&args, mode, &format!("seed {seed} final"));
            }
        }
    }
    pair.finish("random");
}
