//! The nemesis: faults between hosts (`redis_tests::cluster_hosts`) mixed at random for a time
//! budget while writers and register clients go through both proxies; it ends with the
//! acknowledged-write check and the linearizability checker.

use redis_tests::cluster::{partition_records, TTL};
use redis_tests::cluster_hosts::{all_led_and_in_sync, Hosts};
use redis_tests::failover::{register_client, signal, start_writers, Summary};
use redis_tests::hosts::Host;
use redis_tests::linearizability::{self, Event};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The faults the nemesis mixes.
const FAULTS: [&str; 11] = [
    "leader cut from the proxies",
    "leader cut from every peer but etcd",
    "leader cut from etcd",
    "leader cut from etcd and its followers, the proxies still reaching it",
    "follower cut from its leader",
    "proxy cut from etcd",
    "an etcd member cut from the other members",
    "a majority of etcd cut off",
    "10% loss and 50 ms latency between a proxy and the servers",
    "SIGSTOP of a leader",
    "kill -9 and restart of a server",
];

/// Mixed faults at random, one at a time for a few seconds each, for `NEMESIS_SECONDS`
/// (default 60; run it for 1800 by hand), while writers record what was acknowledged and
/// register clients (reads, writes, Lua compare-and-set) through both proxies record a history
/// for the linearizability checker.
#[test]
fn a_nemesis_of_mixed_faults_loses_no_write_and_stays_linearizable() {
    use rand::Rng;
    let budget: u64 = std::env::var("NEMESIS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let mut hosts = Hosts::start();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&hosts.proxies[0].url(), 4, &stop);
    let keys: Vec<String> = (0..6).map(|i| format!("lin:{i}")).collect();
    let base = Instant::now();
    let registers: Vec<_> = (1..=4u64)
        .map(|id| {
            let url = hosts.proxies[id as usize % 2].url();
            let (keys, stop) = (keys.clone(), stop.clone());
            std::thread::spawn(move || register_client(id, url, keys, stop, base))
        })
        .collect();
    let mut rng = rand::rng();
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(budget) {
        let fault = FAULTS[rng.random_range(0..FAULTS.len())];
        let state = hosts.status();
        let leaders: Vec<String> = partition_records(&state)
            .iter()
            .filter_map(|p| p["leader"].as_str().map(String::from))
            .collect();
        let victim = leaders[rng.random_range(0..leaders.len())].clone();
        let host = hosts.server(&victim).host.clone();
        let hold = Duration::from_millis(rng.random_range(1000..5000));
        eprintln!(
            "nemesis at {:?}: {fault} ({victim}, {hold:?})",
            started.elapsed()
        );
        let proxies: Vec<Host> = hosts.proxy_side();
        let servers: Vec<Host> = hosts.servers.iter().map(|s| s.host.clone()).collect();
        let members: Vec<Host> = hosts.etcd.iter().map(|m| m.host.clone()).collect();
        let net = &hosts.network;
        match fault {
            "leader cut from the proxies" => {
                proxies.iter().for_each(|p| net.cut(&host, p));
                std::thread::sleep(hold);
                proxies.iter().for_each(|p| net.heal(&host, p));
            }
            "leader cut from every peer but etcd" => {
                let peers = hosts.peers_of(&host);
                peers.iter().for_each(|p| net.cut(&host, p));
                std::thread::sleep(hold);
                peers.iter().for_each(|p| net.heal(&host, p));
            }
            "leader cut from etcd" => {
                hosts.cut_from_etcd(&host);
                std::thread::sleep(hold);
                hosts.heal_from_etcd(&host);
            }
            "leader cut from etcd and its followers, the proxies still reaching it" => {
                // What it leads stalls (no follower acknowledges, no lease confirms a read)
                // until the cut heals; nothing it answers may be stale or lost.
                let others: Vec<&Host> = servers.iter().filter(|s| s.ip != host.ip).collect();
                hosts.cut_from_etcd(&host);
                others.iter().for_each(|s| net.cut(&host, s));
                std::thread::sleep(hold);
                others.iter().for_each(|s| net.heal(&host, s));
                hosts.heal_from_etcd(&host);
            }
            "follower cut from its leader" => {
                let other = servers.iter().find(|s| s.ip != host.ip).expect("a peer");
                net.cut(&host, other);
                std::thread::sleep(hold);
                net.heal(&host, other);
            }
            "proxy cut from etcd" => {
                hosts.cut_from_etcd(&proxies[0]);
                std::thread::sleep(hold);
                hosts.heal_from_etcd(&proxies[0]);
            }
            "an etcd member cut from the other members" => {
                let cut_off = &members[rng.random_range(0..members.len())];
                let others: Vec<&Host> = members.iter().filter(|m| m.ip != cut_off.ip).collect();
                others.iter().for_each(|m| net.cut(cut_off, m));
                std::thread::sleep(hold);
                others.iter().for_each(|m| net.heal(cut_off, m));
            }
            "a majority of etcd cut off" => {
                let kept = rng.random_range(0..members.len());
                let cut_off: Vec<&Host> = (0..members.len())
                    .filter(|&m| m != kept)
                    .map(|m| &members[m])
                    .collect();
                let links = hosts.isolate(&cut_off);
                std::thread::sleep(hold);
                hosts.heal_all(&links);
            }
            "10% loss and 50 ms latency between a proxy and the servers" => {
                hosts.degrade_first_proxy_link(true, 10);
                std::thread::sleep(hold);
                hosts.degrade_first_proxy_link(false, 0);
            }
            "SIGSTOP of a leader" => {
                signal(&hosts.server(&victim).process, "STOP");
                std::thread::sleep(hold);
                signal(&hosts.server(&victim).process, "CONT");
            }
            _ => hosts.restart_server(&victim),
        }
        *counts.entry(fault).or_default() += 1;
        // Faults are meant one at a time, each within what RF 2 survives: the state must show
        // the fault's effect (a restarted copy out of its in-sync sets, a replaced leader)
        // before "every copy in sync" says it is over.
        std::thread::sleep(Duration::from_secs(TTL));
        hosts.wait_for(
            "every partition led and in sync after the fault",
            all_led_and_in_sync,
        );
    }
    let summary = Summary::collect(&stop, writers, &hosts.proxies[1].url(), started.elapsed());
    if summary.lost > 0 {
        eprintln!("the controller's log:\n{}", hosts.controller.log());
    }
    let history: Vec<Event> = registers
        .into_iter()
        .flat_map(|c| c.join().expect("register client"))
        .collect();
    let violations = linearizability::check(&history);
    summary.report("nemesis");
    eprintln!(
        "nemesis: {:?} of faults {counts:?}; {} register operations, {} linearizability violations",
        started.elapsed(),
        history.len(),
        violations.len()
    );
    for violation in &violations {
        eprintln!("{}", linearizability::explain(&history, &violation.key));
    }
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
    assert!(violations.is_empty(), "not linearizable: {violations:?}");
    assert!(
        summary.acked.len() > 100 && history.len() > 100,
        "the load ran"
    );
}
