//! Replication and failover under load, through the proxy, on a real etcd with real processes.
//! Writers record every acknowledged write (a unique value per key); after the fault the test
//! reads everything back and reports acknowledged writes lost, the longest stretch during which
//! writes failed, and the errors clients saw (the harness is `redis_tests::failover`).

use redis_tests::cluster::{names, partition_records, Cluster, TTL};
use redis_tests::failover::*;
use redis_tests::{Frame, Process};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn killing_a_leader_under_load_loses_no_acknowledged_write() {
    let mut stack = stack(8, 2, "sync");
    let mut takeovers = Vec::new();
    for _ in 0..5 {
        let kill = |stack: &mut Stack, index: usize| drop(stack.servers[index].take());
        // The killed node comes back as a new, empty process: it rejoins as a follower.
        let restart = |stack: &mut Stack, index: usize| stack.start(index);
        let summary = leader_fault(&mut stack, "kill -9 (sync)", kill, restart);
        assert_eq!(summary.lost, 0, "acknowledged writes lost");
        let bound = Duration::from_secs(TTL + 1);
        assert!(
            summary.outage < bound && summary.wait < bound,
            "writes stalled too long"
        );
        takeovers.push(summary.took_over);
        // Every copy matches its leader before the next round.
        replicas_converge(&stack, 8, 2);
    }
    takeovers.sort();
    let median = takeovers[takeovers.len() / 2];
    eprintln!("kill -9 (sync): median takeover {median:?} over {takeovers:?}");
    assert!(
        median < Duration::from_secs(1),
        "median takeover {median:?}"
    );
}

#[test]
fn killing_a_leader_in_async_mode_reports_the_loss() {
    let mut stack = stack(8, 2, "async");
    let kill = |stack: &mut Stack, index: usize| drop(stack.servers[index].take());
    let summary = leader_fault(&mut stack, "kill -9 (async)", kill, |_, _| {});
    // Acknowledged at once, like Redis: what the leader had not streamed yet is gone. The
    // figure is reported, not asserted.
    eprintln!(
        "async mode lost {} of {} acknowledged writes",
        summary.lost,
        summary.acked.len()
    );
    replicas_converge(&stack, 8, 2);
}

#[test]
fn a_paused_leader_is_replaced_and_rejoins_as_a_follower() {
    let mut stack = stack(8, 2, "sync");
    let paused = Instant::now();
    let pause = |stack: &mut Stack, index: usize| {
        signal(stack.servers[index].as_ref().expect("running"), "STOP")
    };
    let resume = |stack: &mut Stack, index: usize| {
        std::thread::sleep(Duration::from_secs(2 * TTL).saturating_sub(paused.elapsed()));
        signal(stack.servers[index].as_ref().expect("running"), "CONT");
    };
    let summary = leader_fault(&mut stack, "SIGSTOP for 2 x TTL", pause, resume);
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
    // Requests in flight at the paused leader are released once its partitions have new
    // leaders (within the lease), not when it resumes.
    assert!(
        summary.pause < Duration::from_secs(2 * TTL),
        "a writer waited {:?}, through the leader's pause",
        summary.pause
    );
    // Back from the pause, the old leader follows: every partition regains its full in-sync
    // set on all three nodes, with identical copies.
    let compared = replicas_converge(&stack, 8, 2);
    eprintln!("{compared} copies identical after the paused leader rejoined");
}

#[test]
fn a_standby_controller_completes_a_failover_its_leader_died_in() {
    let mut stack = stack(8, 2, "sync");
    let both = |stack: &mut Stack, index: usize| {
        let leading = stack.cluster.status()["controller"]["id"]
            .as_str()
            .map(String::from)
            .expect("a leading controller");
        let at = ["c1", "c2"]
            .iter()
            .position(|c| *c == leading)
            .expect("known controller");
        drop(stack.servers[index].take());
        drop(stack.controllers[at].take());
    };
    let summary = leader_fault(&mut stack, "kill -9 with its controller", both, |_, _| {});
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
    replicas_converge(&stack, 8, 2);
}

/// The leader of partition 0 and its epoch.
fn leader_of_partition_0(cluster: &Cluster) -> (String, u64) {
    let state = cluster.status();
    let record = partition_records(&state)[0].clone();
    let leader = record["leader"].as_str().expect("a leader").to_string();
    (leader, record["epoch"].as_u64().expect("an epoch"))
}

/// Planned changes under load: four writers, and a counter incremented in transactions, run
/// through `changes`; no client may see an error or a lost write, no transaction may be lost
/// or run twice.
fn planned_under_load(stack: &mut Stack, what: &str, changes: impl FnOnce(&mut Stack)) -> Summary {
    let url = stack.proxy.url();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&url, 4, &stop);
    let counter = keys_of_partition(&stack.cluster, 0).next().expect("a key");
    let transactions = count_in_transactions(&url, &counter, &stop);
    std::thread::sleep(Duration::from_secs(1));
    changes(stack);
    std::thread::sleep(Duration::from_millis(500));
    let summary = Summary::collect(&stop, writers, &url, Duration::ZERO);
    summary.report(what);
    summary.assert_unseen_by_clients();
    let (counted, errors) = transactions.join().expect("transactions");
    eprintln!("{counted} transactions, {} errors", errors.len());
    assert!(counted > 100 && errors.is_empty(), "{errors:?}");
    summary
}

#[test]
fn planned_failovers_and_a_drain_under_load_lose_nothing_and_fail_no_request() {
    let mut stack = stack(8, 2, "sync");
    let summary = planned_under_load(&mut stack, "5 planned failovers and a drain", |stack| {
        // `slotcache failover` returns once the successor leads: the old leader handed over.
        for _ in 0..5 {
            let (leader, epoch) = leader_of_partition_0(&stack.cluster);
            let (ok, out, err) = stack.cluster.cli(&["failover", "0"]);
            assert!(ok, "{out}{err}");
            let (now, now_epoch) = leader_of_partition_0(&stack.cluster);
            assert!(now != leader && now_epoch > epoch, "{out}");
            std::thread::sleep(Duration::from_millis(500));
        }
        // A drained node hands over every partition it leads, then its replicas move away.
        let (drained, _) = leader_of_partition_0(&stack.cluster);
        let (ok, _, err) = stack.cluster.cli(&["node", "drain", &drained]);
        assert!(ok, "{err}");
        stack
            .cluster
            .wait_for("the drain", Duration::from_secs(30), |s| {
                all_in_sync(s, 8, 2)
                    && partition_records(s)
                        .iter()
                        .all(|p| !names(&p["replicas"]).contains(&drained))
            });
    });
    eprintln!(
        "planned failover: the longest write took {:.1} ms (the pause, with the proxy's retry)",
        summary.wait.as_secs_f64() * 1000.0
    );
    assert!(
        summary.wait < Duration::from_secs(1),
        "a write waited {:?}",
        summary.wait
    );
}

/// Each server in turn stopped with SIGTERM (it hands the partitions it leads over to
/// in-sync followers, then leaves), started again and caught up before the next: an
/// operator's rolling restart, under load.
#[test]
fn a_rolling_restart_under_load_fails_no_request_and_loses_nothing() {
    let mut stack = stack(8, 2, "sync");
    planned_under_load(&mut stack, "rolling restart", |stack| {
        for (index, node) in NODES.iter().enumerate() {
            let mut server = stack.servers[index].take().expect("running");
            let stopping = Instant::now();
            signal(&server, "TERM");
            let exited = exited_within(&mut server, Duration::from_secs(30));
            assert!(
                exited.is_some_and(|s| s.success()),
                "{node} exited: {exited:?}"
            );
            let log = server.log();
            assert!(
                log.contains("left the cluster"),
                "{node} did not leave cleanly:\n{log}"
            );
            eprintln!("{node} handed over and stopped in {:?}", stopping.elapsed());
            stack.start(index);
            let caught_up =
                stack
                    .cluster
                    .wait_for("every copy in sync again", Duration::from_secs(60), |s| {
                        all_in_sync(s, 8, 2)
                    });
            eprintln!("{node} restarted and in sync in {caught_up:?}");
        }
    });
}

/// The exit status of `process` once it exits, if it does within `patience`.
fn exited_within(process: &mut Process, patience: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < patience {
        if let Ok(Some(status)) = process.child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// INCRs `key` in MULTI/EXEC until stopped; every EXEC must answer the count of those before
/// it plus one (none lost, none run twice). Returns the count and the errors seen.
fn count_in_transactions(
    url: &str,
    key: &str,
    stop: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<(i64, Vec<String>)> {
    let (url, key, stop) = (url.to_string(), key.to_string(), stop.clone());
    std::thread::spawn(move || {
        let client = redis::Client::open(url).expect("client");
        let mut conn = connect(&client).expect("a connection");
        let (mut counted, mut errors) = (0, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            let exec: redis::RedisResult<(i64,)> =
                redis::pipe().atomic().incr(&key, 1).query(&mut conn);
            match exec {
                Ok((count,)) => {
                    assert_eq!(count, counted + 1, "a transaction lost or run twice");
                    counted = count;
                }
                Err(err) => errors.push(err.to_string()),
            }
        }
        (counted, errors)
    })
}

#[test]
fn the_data_plane_serves_through_an_etcd_outage() {
    let mut stack = stack(8, 2, "sync");
    let url = stack.proxy.url();
    redis_tests::stop_etcd(&mut stack.cluster.etcd);
    let outage = Instant::now();
    // Reads and writes through the proxy while etcd is down: every acknowledged write is read
    // back, still during the outage.
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&url, 4, &stop);
    std::thread::sleep(Duration::from_secs(8));
    let summary = Summary::collect(&stop, writers, &url, Duration::ZERO);
    let during = outage.elapsed();
    summary.report("etcd stopped");
    assert!(
        during < Duration::from_secs(10),
        "the checks ran during the outage"
    );
    summary.assert_unseen_by_clients();
    std::thread::sleep(Duration::from_secs(10).saturating_sub(outage.elapsed()));
    redis_tests::resume_etcd(&mut stack.cluster.etcd);
    // Placement resumes: a leader killed now is replaced as usual.
    let kill = |stack: &mut Stack, index: usize| drop(stack.servers[index].take());
    let summary = leader_fault(&mut stack, "kill -9 after the outage", kill, |_, _| {});
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
}

#[test]
fn wait_counts_the_replicas_that_have_every_write() {
    let stack = stack(4, 2, "sync");
    let mut conn = stack.proxy.connect();
    assert_eq!(conn.call(&["SET", "w", "1"]), Frame::Simple("OK".into()));
    // Every partition has one follower, in sync: one replica, at once.
    assert_eq!(conn.call(&["WAIT", "1", "2000"]), Frame::Int(1));
    // Two are never reached: the answer comes at the timeout, with the one there is.
    let asked = Instant::now();
    assert_eq!(conn.call(&["WAIT", "2", "300"]), Frame::Int(1));
    assert!(asked.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        conn.call(&["WAIT", "1", "soon"]),
        Frame::Error("ERR timeout is not an integer or out of range".into())
    );
    // On a shard server, WAIT counts the followers of the partition the connection addressed.
    let server = stack.servers[0].as_ref().expect("running");
    let mut direct = server.connect();
    assert_eq!(direct.call(&["WAIT", "0", "0"]), Frame::Int(0));
}

#[test]
fn below_min_isr_writes_answer_noreplicas_and_reads_go_on() {
    // Two servers, RF 2, min-isr 2: losing either leaves every partition one copy short.
    let mut pair = pair(4, &["--min-isr", "2"]);
    let mut conn = pair.proxy.connect();
    assert_eq!(conn.call(&["SET", "k", "1"]), Frame::Simple("OK".into()));
    drop(pair.servers[1].take());
    let refused = Frame::Error("NOREPLICAS Not enough good replicas to write.".into());
    let deadline = Instant::now() + Duration::from_secs(TTL + 5);
    while conn.call(&["SET", "k", "2"]) != refused {
        assert!(
            Instant::now() < deadline,
            "writes never refused below min-isr"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(conn.call(&["GET", "k"]), Frame::Bulk(b"1".to_vec()));
    // The node comes back, catches up, rejoins the in-sync set: writes are accepted again.
    pair.servers[1] = Some(pair.cluster.server("n2"));
    let resumed = "writes never resumed";
    until_ok(
        &mut conn,
        &["SET", "k", "3"],
        Duration::from_secs(20),
        resumed,
    );
    assert_eq!(conn.call(&["GET", "k"]), Frame::Bulk(b"3".to_vec()));
}

#[test]
fn a_proxy_reports_a_crashed_server_and_its_lease_is_revoked_early() {
    // One copy per partition, so no follower can notice the crash, and a 30 s lease.
    let cluster = Cluster::with(2, 1, &["--lease-ttl", "30"]);
    let mut servers = [Some(cluster.server("n1")), Some(cluster.server("n2"))];
    let _controller = cluster.controller("c1");
    cluster.wait_for("placement", Duration::from_secs(30), |s| {
        all_in_sync(s, 2, 1)
    });
    let proxy = cluster.proxy(&[]);
    let (victim, _) = leader_of_partition_0(&cluster);
    let index = NODES.iter().position(|n| *n == victim).expect("known node");
    let key = keys_of_partition(&cluster, 0).next().expect("a key");
    drop(servers[index].take());
    // The proxy finds the victim's port refusing connections while it routes a request there.
    let mut conn = proxy.connect();
    let reply = conn.call(&["GET", &key]);
    assert!(
        matches!(&reply, Frame::Error(e) if e.starts_with("TRYAGAIN")),
        "{reply:?}"
    );
    let gone = cluster.wait_for("the lease revoked", Duration::from_secs(15), |s| {
        !names(&s["active_nodes"]).contains(&victim)
    });
    eprintln!(
        "a crash reported by the proxy alone: lease revoked within {gone:?} of the reply \
         (lease TTL 30 s)"
    );
}

/// Cuts the leader of partition 0 off from etcd while its peers, the proxy and clients still
/// reach it. Once a new leader is elected, the old one must not acknowledge a write of the
/// partition it led (no split brain); healed, it rejoins as a follower.
fn cut_off_leader(mode: &str) -> Summary {
    let mut stack = stack(8, 2, mode);
    let probe = keys_of_partition(&stack.cluster, 0)
        .next()
        .expect("a key of partition 0");
    let cut = Instant::now();
    let isolate = |stack: &mut Stack, index: usize| stack.links[index].cut();
    let probe_then_heal = |stack: &mut Stack, index: usize| {
        let old_leader = stack.servers[index].as_ref().expect("running");
        let mut conn = old_leader.connect();
        conn.set_read_timeout(Duration::from_secs(1));
        let reply = conn.try_read_reply(&["SET", &probe, "split-brain"]);
        eprintln!("{mode}: the cut-off old leader answered a write with {reply:?}");
        assert_ne!(reply, Some(Frame::Simple("OK".into())), "two leaders wrote");
        if mode == "async" {
            assert_eq!(
                reply,
                Some(Frame::Error(
                    "CLUSTERDOWN The partition's leader cannot renew its lease; retry".into()
                )),
                "an async leader unsure of its lease refuses writes"
            );
        }
        std::thread::sleep(Duration::from_secs(2 * TTL).saturating_sub(cut.elapsed()));
        stack.links[index].heal();
    };
    let summary = leader_fault(
        &mut stack,
        &format!("cut off from etcd ({mode})"),
        isolate,
        probe_then_heal,
    );
    let mut conn = stack.proxy.connect();
    assert_ne!(
        conn.call(&["GET", &probe]),
        Frame::Bulk(b"split-brain".to_vec()),
        "the old leader's refused write surfaced"
    );
    let compared = replicas_converge(&stack, 8, 2);
    eprintln!("{mode}: {compared} copies identical after the cut-off leader rejoined");
    summary
}

#[test]
fn a_leader_cut_off_from_etcd_is_fenced_and_loses_nothing() {
    let summary = cut_off_leader("sync");
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
}

#[test]
fn an_async_leader_cut_off_from_etcd_stops_writing_before_its_lease_expires() {
    let summary = cut_off_leader("async");
    // The old leader refused writes before its lease could expire; what it acknowledged
    // before that reached its follower unless the stream lagged. Reported, not asserted.
    eprintln!(
        "async cut-off lost {} of {} acknowledged writes",
        summary.lost,
        summary.acked.len()
    );
}

/// A server's `INFO stats` counter.
fn stat(server: &Process, field: &str) -> u64 {
    info_line(server, "stats", &format!("{field}:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO stats"))
}

/// A counter summed over the running servers.
fn total(stack: &Stack, field: &str) -> u64 {
    stack.servers.iter().flatten().map(|s| stat(s, field)).sum()
}

#[test]
fn a_broken_link_resyncs_partially_and_an_overflowed_backlog_fully() {
    // A small backlog, so a follower paused for a moment falls out of it; a short lag timeout,
    // so writes go on without the paused follower and overflow the backlog meanwhile.
    let flags = [
        "--repl-backlog-size",
        "64kb",
        "--replica-lag-timeout",
        "300",
    ];
    let stack = stack_with(8, 2, "sync", &flags);
    let url = stack.proxy.url();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&url, 4, &stop);
    std::thread::sleep(Duration::from_secs(1));
    let state = stack.cluster.status();
    let record = partition_records(&state)[0];
    let follower = names(&record["replicas"])
        .into_iter()
        .find(|n| record["leader"] != n.as_str())
        .expect("partition 0 has a follower");
    let index = NODES
        .iter()
        .position(|n| *n == follower)
        .expect("known node");

    // 1. The follower's links to its leaders break (as a network blip would): it attaches
    //    again from its offsets, and every leader continues from its backlog.
    let (full, partial) = (total(&stack, "sync_full"), total(&stack, "sync_partial_ok"));
    let server = stack.servers[index].as_ref().expect("running");
    let Frame::Int(cut) = server.connect().call(&["CLIENT", "KILL", "TYPE", "master"]) else {
        panic!("CLIENT KILL TYPE master")
    };
    assert!(cut > 0, "{follower} followed no leader");
    let deadline = Instant::now() + Duration::from_secs(10);
    while total(&stack, "sync_partial_ok") < partial + cut as u64 {
        assert!(Instant::now() < deadline, "the links never resumed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        total(&stack, "sync_full"),
        full,
        "a link break forced a full resync"
    );
    eprintln!("{cut} links of {follower} cut: all resumed by partial resync");

    // 2. Paused while the writes it misses overflow the 64 KB backlog, and the socket
    //    buffers of the stream (30 MB to partition 0): full resync. Partition 0 holds
    //    200,000 more keys, which a client keeps changing, deleting and expiring while the
    //    leader takes its snapshot.
    let preloaded: Vec<String> = keys_of_partition(&stack.cluster, 0)
        .take(PRELOADED)
        .collect();
    let mut conn = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .expect("loader");
    for chunk in preloaded.chunks(1000) {
        let mut load = redis::pipe();
        for key in chunk {
            load.set(key, "preloaded").ignore();
        }
        let () = load.query(&mut conn).expect("preloading partition 0");
    }
    let churn = start_churn(&url, preloaded, &stop);
    let full = total(&stack, "sync_full");
    let server = stack.servers[index].as_ref().expect("running");
    let mut bulk = stack.proxy.connect();
    signal(server, "STOP");
    write_bulk(&mut bulk, keys_of_partition(&stack.cluster, 0));
    signal(server, "CONT");
    let deadline = Instant::now() + Duration::from_secs(10);
    while total(&stack, "sync_full") == full {
        assert!(
            Instant::now() < deadline,
            "no full resync after the overflow"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    let summary = Summary::collect(&stop, writers, &url, Duration::ZERO);
    summary.report("link cut, then backlog overflow");
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
    let churned = churn.join().expect("churn");
    let compared = replicas_converge(&stack, 8, 2);
    eprintln!(
        "{} full resyncs after the pause; {compared} copies identical; {churned} changes \
         to preloaded keys",
        total(&stack, "sync_full") - full
    );
    let leader = NODES
        .iter()
        .position(|n| record["leader"] == *n)
        .and_then(|i| stack.servers[i].as_ref())
        .expect("partition 0's leader runs");
    let snapshot = last_snapshot(leader, 0).expect("the leader logged partition 0's snapshot");
    eprintln!("partition 0's snapshot: {snapshot:?}");
    assert!(snapshot["keys"] >= PRELOADED as f64 / 2.0, "{snapshot:?}");
    assert!(
        snapshot["steps"] > 100.0,
        "the snapshot was not taken in steps beside the writes: {snapshot:?}"
    );
}

/// Keys partition 0 holds before its follower falls out of the backlog.
const PRELOADED: usize = 200_000;

/// A client changing, deleting and expiring `keys` in pipelines until stopped; returns how
/// many changes were acknowledged.
fn start_churn(
    url: &str,
    keys: Vec<String>,
    stop: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    let client = redis::Client::open(url).expect("client");
    let stop = stop.clone();
    std::thread::spawn(move || {
        let mut changes = 0;
        let mut conn = None;
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let Some(c) = reconnected(&client, &mut conn) else {
                continue;
            };
            let mut batch = redis::pipe();
            for _ in 0..100 {
                i += 1;
                let key = &keys[i.wrapping_mul(7919) % keys.len()];
                match i % 4 {
                    0 => batch.set(key, i).ignore(),
                    1 => batch.del(key).ignore(),
                    2 => batch.append(key, "+").ignore(),
                    _ => batch.expire(key, 3600).ignore(),
                };
            }
            match batch.query::<()>(c) {
                Ok(()) => changes += 100,
                Err(_) => conn = None,
            }
        }
        changes
    })
}

/// The figures of the last snapshot `server` logged for `pid` (keys, steps, longest_hold_ms,
/// took_ms).
fn last_snapshot(server: &Process, pid: u32) -> Option<BTreeMap<String, f64>> {
    let log = server.log();
    let line = log.lines().rev().find(|line| {
        line.contains("snapshot sent") && line.contains(&format!("partition={pid} "))
    })?;
    Some(
        line.split_whitespace()
            .filter_map(|field| field.split_once('='))
            .filter_map(|(name, value)| Some((name.to_string(), value.parse().ok()?)))
            .collect(),
    )
}

/// A shard server that holds a request without answering (here a CLIENT PAUSE sent to it
/// directly, as a hung process would) does not hold the proxy's client past the backend
/// deadline: the write is answered that it may or may not have been applied, and it was,
/// once the server went on.
#[test]
fn a_request_past_the_backend_deadline_is_released_as_uncertain() {
    let cluster = Cluster::new(4, 1);
    let server = cluster.server("n1");
    let _controller = cluster.controller("c1");
    let proxy = cluster.proxy(&["--backend-timeout", "0.5"]);
    cluster.wait_in_sync(4, 1);
    let mut conn = proxy.connect();
    assert_eq!(
        conn.call(&["SET", "k", "before"]),
        Frame::Simple("OK".into())
    );
    let pause = ["CLIENT", "PAUSE", "4000", "WRITE"];
    assert_eq!(server.connect().call(&pause), Frame::Simple("OK".into()));
    let sent = Instant::now();
    let reply = conn.call(&["SET", "k", "after"]);
    let waited = sent.elapsed();
    assert!(
        matches!(&reply, Frame::Error(e) if e.contains("may or may not have been applied")),
        "{reply:?}"
    );
    assert!(waited < Duration::from_secs(3), "released after {waited:?}");
    // The held write lands when the pause ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    while conn.call(&["GET", "k"]) != Frame::bulk("after") {
        assert!(Instant::now() < deadline, "the held write never landed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A leader killed and started again at once (as systemd's `Restart=always` does) comes back
/// empty while etcd still names it leader. It withdrew from the in-sync set at start, so it
/// must not lead: it serves nothing and streams nothing, and the controller elects the
/// in-sync follower, whose copy stays whole. The new process once led its partitions empty,
/// and its followers took a full copy of nothing from it.
#[test]
fn a_leader_restarted_at_once_does_not_lead_its_empty_copy() {
    let cluster = Cluster::new(4, 2);
    let mut servers: Vec<Process> = ["n1", "n2", "n3"].map(|n| cluster.server(n)).into();
    let _controller = cluster.controller("c1");
    cluster.wait_in_sync(4, 2);
    let proxy = cluster.proxy(&[]);
    let mut client = proxy.connect();
    let keys: Vec<String> = (0..300).map(|i| format!("key:{i}")).collect();
    for key in &keys {
        assert_eq!(client.call(&["SET", key, key]), Frame::Simple("OK".into()));
    }
    let state = cluster.status();
    let led_by = |state: &serde_json::Value, node: &str| {
        partition_records(state)
            .iter()
            .filter(|p| p["leader"] == node)
            .count()
    };
    let victim = ["n1", "n2", "n3"]
        .iter()
        .position(|n| led_by(&state, n) > 0)
        .expect("a server leads");
    let name = ["n1", "n2", "n3"][victim];
    let old = &mut servers[victim];
    old.child.kill().unwrap();
    old.child.wait().unwrap();
    servers.push(cluster.server(name));
    cluster.wait_for(
        "two in-sync copies again",
        Duration::from_secs(30),
        |state| {
            partition_records(state)
                .iter()
                .all(|p| names(&p["isr"]).len() == 2 && p["leader"].is_string())
        },
    );
    let lost: Vec<&String> = keys
        .iter()
        .filter(|key| client.call(&["GET", key]) != Frame::bulk(key))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {lost:?}",
        lost.len()
    );
}
