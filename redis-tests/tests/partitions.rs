//! Network faults between hosts (`redis_tests::hosts`): etcd, every shard server, the
//! controller and each proxy on a host of its own, and links cut silently with nftables, as a
//! cluster across real hosts meets them. Each test checks what writers were acknowledged
//! against what the cluster holds afterwards.

use redis_tests::cluster::{partition_records, TTL};
use redis_tests::cluster_hosts::{
    all_led_and_in_sync, follower_of_first, leader_of_first, led_only_by_others, Hosts, PARTITIONS,
    SLOW_LINK_DELAY_MS,
};
use redis_tests::failover::{start_writers, Summary};
use redis_tests::hosts::Host;
use serde_json::Value;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Eight writers through the first proxy: a second of load, then `fault`, then `settled` (how
/// long it took to), then `hold` more; every acknowledged write read back through the second
/// proxy.
fn under_load(
    hosts: &Hosts,
    fault: impl FnOnce(),
    settled: impl Fn(&Value) -> bool,
    hold: Duration,
) -> Summary {
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&hosts.proxies[0].url(), 8, &stop);
    std::thread::sleep(Duration::from_secs(1));
    fault();
    let took = hosts.wait_for("the fault settled", settled);
    std::thread::sleep(hold);
    Summary::collect(&stop, writers, &hosts.proxies[1].url(), took)
}

/// Cuts the leader of partition 0 with `cut` under load, until other servers lead every
/// partition; reports what it cost as `what`. The leader's id and host, and the summary.
fn leader_cut(hosts: &Hosts, what: &str, cut: impl Fn(&Host)) -> (String, Host, Summary) {
    let (victim, led) = leader_of_first(&hosts.status());
    let cut_off = hosts.server(&victim).host.clone();
    let summary = under_load(
        hosts,
        || cut(&cut_off),
        |state| led_only_by_others(state, &victim),
        Duration::from_secs(2),
    );
    summary.report(&format!(
        "{victim} (leading {led} of {PARTITIONS} partitions) cut from {what}"
    ));
    assert!(summary.acked.len() > 100, "the load ran");
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
    (victim, cut_off, summary)
}

#[test]
fn a_leader_cut_off_from_every_peer_but_etcd_is_failed_over_without_loss() {
    let hosts = Hosts::start();
    let (victim, cut_off, _) = leader_cut(&hosts, "proxies, servers and controller", |host| {
        for peer in hosts.peers_of(host) {
            hosts.network.cut(host, &peer);
        }
    });
    eprintln!("the controller's decisions:\n{}", hosts.decisions());
    // Healed, the cut-off server registers again (its fence lifted) and every partition is
    // back to two in-sync copies.
    for peer in hosts.peers_of(&cut_off) {
        hosts.network.heal(&cut_off, &peer);
    }
    hosts.wait_for(
        "the cut-off server registered again, every copy in sync",
        |state| {
            let live = state["active_nodes"]
                .as_array()
                .is_some_and(|nodes| nodes.contains(&Value::from(victim.as_str())));
            let records = partition_records(state);
            live && records
                .iter()
                .all(|p| p["isr"].as_array().is_some_and(|isr| isr.len() == 2))
        },
    );
}

#[test]
fn a_leader_cut_from_etcd_only_is_fenced_by_its_lease_without_loss() {
    let hosts = Hosts::start();
    leader_cut(&hosts, "etcd only", |host| hosts.cut_from_etcd(host));
}

/// The lease-read hazard: a leader that etcd and its followers lose while the proxies still
/// reach it. What it leads stalls (no follower acknowledges a write, no lease confirms a
/// read) until the cut heals; then every partition is led and in sync again, nothing lost.
#[test]
fn a_leader_cut_from_etcd_and_its_followers_stalls_then_recovers_without_loss() {
    let hosts = Hosts::start();
    let (victim, led) = leader_of_first(&hosts.status());
    let host = hosts.server(&victim).host.clone();
    let mut cut_from: Vec<Host> = hosts
        .servers
        .iter()
        .map(|s| s.host.clone())
        .filter(|h| h.ip != host.ip)
        .collect();
    cut_from.extend(hosts.etcd.iter().map(|m| m.host.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&hosts.proxies[0].url(), 8, &stop);
    std::thread::sleep(Duration::from_secs(1));
    cut_from.iter().for_each(|h| hosts.network.cut(&host, h));
    std::thread::sleep(Duration::from_secs(2 * TTL));
    cut_from.iter().for_each(|h| hosts.network.heal(&host, h));
    let recovered = hosts.wait_for("every partition led and in sync", all_led_and_in_sync);
    std::thread::sleep(Duration::from_secs(1));
    let summary = Summary::collect(&stop, writers, &hosts.proxies[1].url(), recovered);
    summary.report(&format!(
        "{victim} (leading {led} of {PARTITIONS} partitions) cut from etcd and the servers for \
         {} s, then healed (\"new leaders\": in sync again after the heal)",
        2 * TTL
    ));
    eprintln!("the controller's decisions:\n{}", hosts.decisions());
    assert_lost_nothing_and_only_uncertain_errors(&summary, 100);
}

#[test]
fn a_follower_cut_from_its_leader_leaves_the_in_sync_set_and_writes_go_on() {
    let hosts = Hosts::start();
    let state = hosts.status();
    let (leader, _) = leader_of_first(&state);
    let follower = follower_of_first(&state);
    let (a, b) = (
        hosts.server(&leader).host.clone(),
        hosts.server(&follower).host.clone(),
    );
    let summary = under_load(
        &hosts,
        || hosts.network.cut(&a, &b),
        |state| {
            let first = &partition_records(state)[0];
            let isr = first["isr"].as_array().cloned().unwrap_or_default();
            isr.len() == 1 || first["leader"] != leader.as_str()
        },
        Duration::from_secs(2),
    );
    summary.report(&format!("{follower} cut from its leader {leader}"));
    eprintln!("the controller's decisions:\n{}", hosts.decisions());
    assert_lost_nothing_and_only_uncertain_errors(&summary, 100);
}

/// The first proxy reaches the servers through the slow link: 50 ms more each way and 10% of
/// the packets lost (retransmitted by TCP, hundreds of milliseconds late).
#[test]
fn loss_and_latency_between_a_proxy_and_the_servers_cost_no_write() {
    let hosts = Hosts::start();
    let summary = under_load(
        &hosts,
        || hosts.degrade_first_proxy_link(true, 10),
        |_| true,
        Duration::from_secs(8),
    );
    summary.report(&format!(
        "10% loss each way and {SLOW_LINK_DELAY_MS} ms latency each way between a proxy and \
         every server"
    ));
    assert_lost_nothing_and_only_uncertain_errors(&summary, 20);
}

/// The leaders of every partition, by partition.
fn leaders(state: &Value) -> Vec<Value> {
    partition_records(state)
        .iter()
        .map(|p| p["leader"].clone())
        .collect()
}

/// One etcd member cut from the other two (the clients still reach it): etcd keeps its
/// quorum, so no lease lapses and no leader changes, whichever member a client was using.
#[test]
fn an_etcd_member_cut_from_the_others_fails_nothing_over() {
    let hosts = Hosts::start();
    let before = leaders(&hosts.status());
    let (cut_off, others) = hosts.etcd.split_first().expect("etcd members");
    let summary = under_load(
        &hosts,
        || {
            others
                .iter()
                .for_each(|m| hosts.network.cut(&cut_off.host, &m.host))
        },
        |_| true,
        Duration::from_secs(4 * TTL),
    );
    summary.report("an etcd member cut from the other two");
    assert_eq!(
        leaders(&hosts.status()),
        before,
        "leaders changed; the controller's decisions:\n{}",
        hosts.decisions()
    );
    assert_lost_nothing_and_only_uncertain_errors(&summary, 100);
}

/// Two of etcd's three members cut off from every host: with no quorum no lease can be
/// renewed, but none can expire and no leader can change either, so the leaders go on
/// serving (etcd's next leader renews every lease); once healed, every partition is led and in
/// sync, nothing acknowledged lost and no request failed.
#[test]
fn etcd_losing_its_quorum_stops_no_write_and_loses_nothing() {
    let hosts = Hosts::start();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(&hosts.proxies[0].url(), 8, &stop);
    std::thread::sleep(Duration::from_secs(1));
    let links = hosts.isolate(&[&hosts.etcd[0].host, &hosts.etcd[1].host]);
    std::thread::sleep(Duration::from_secs(3 * TTL));
    hosts.heal_all(&links);
    let recovered = hosts.wait_for("every partition led and in sync", all_led_and_in_sync);
    std::thread::sleep(Duration::from_secs(1));
    let summary = Summary::collect(&stop, writers, &hosts.proxies[1].url(), recovered);
    summary.report(&format!(
        "two of three etcd members cut off for {} s (\"new leaders\": in sync again after the \
         heal)",
        3 * TTL
    ));
    eprintln!("the controller's decisions:\n{}", hosts.decisions());
    assert_lost_nothing_and_only_uncertain_errors(&summary, 100);
}

/// At least `writes` were acknowledged, none lost, and clients saw no error but the proxy's two
/// for a request whose outcome is unknown: released from a silent server at the deadline, or
/// in flight on a lane to it that broke.
fn assert_lost_nothing_and_only_uncertain_errors(summary: &Summary, writes: usize) {
    assert!(summary.acked.len() > writes, "the load ran");
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
    let uncertain = |e: &String| {
        e.contains("may or may not have been applied") || e.contains("may or may not have run")
    };
    assert!(
        summary.errors.iter().all(uncertain),
        "errors other than the deadline's: {:?}",
        summary.errors
    );
}
