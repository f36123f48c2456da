//! Network faults between hosts (`redis_tests::hosts`): etcd, every shard server, the
//! controller and each proxy on a host of its own, and links cut silently with nftables, as a
//! cluster across real hosts meets them. Each test checks what writers were acknowledged
//! against what the cluster holds afterwards.

use redis_tests::cluster::{partition_records, TTL};
use redis_tests::failover::{register_client, start_writers, Summary};
use redis_tests::hosts::{Host, Network, Remote};
use redis_tests::linearizability::{self, Event};
use redis_tests::run_binary;
use serde_json::Value;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PARTITIONS: u32 = 4;
const PORT: u16 = 6379;

/// A cluster of hosts: etcd, three servers, a controller and two proxies.
struct Hosts {
    // Fields drop in order: processes first, the network (namespaces, bridge) last.
    servers: Vec<Remote>,
    /// Each server's command line, to start it again.
    server_args: Vec<Vec<String>>,
    controller: Remote,
    proxies: Vec<Remote>,
    etcd: Remote,
    network: Network,
}

impl Hosts {
    fn start() -> Hosts {
        let network = Network::new();
        let etcd = network.etcd(&network.host());
        let endpoint = format!("http://{}", etcd.addr());
        let (partitions, ttl) = (PARTITIONS.to_string(), TTL.to_string());
        let (ok, _, err) = run_binary(
            "slotcache",
            &[
                "cluster",
                "init",
                "--etcd",
                &endpoint,
                "--cluster",
                "test",
                "--partitions",
                &partitions,
                "--replication-factor",
                "2",
                "--lease-ttl",
                &ttl,
            ],
        );
        assert!(ok, "cluster init: {err}");
        let cluster = ["--etcd", &endpoint, "--cluster", "test"];
        let command_line = |host: &Host, extra: &[&str]| {
            let (ip, port) = (host.ip.to_string(), PORT.to_string());
            let mut args = vec!["--bind", &ip, "--port", &port, "--protected-mode", "no"];
            args.extend_from_slice(&cluster);
            args.extend_from_slice(extra);
            args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
        };
        let served = |network: &Network, name: &str, extra: &[&str]| {
            let host = network.host();
            let args = command_line(&host, extra);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            (network.start(&host, name, PORT, &args), args.join("\u{1}"))
        };
        let (servers, server_args): (Vec<Remote>, Vec<Vec<String>>) = ["n1", "n2", "n3"]
            .iter()
            .map(|node| {
                let (remote, args) = served(&network, "slotcache-server", &["--node-id", node]);
                (remote, args.split('\u{1}').map(String::from).collect())
            })
            .unzip();
        let mut controller_args = cluster.to_vec();
        controller_args.extend(["--id", "c1"]);
        let controller =
            network.start(&network.host(), "slotcache-controller", 0, &controller_args);
        let proxies = (0..2)
            .map(|_| served(&network, "slotcache-proxy", &[]).0)
            .collect();
        let hosts = Hosts {
            servers,
            server_args,
            controller,
            proxies,
            etcd,
            network,
        };
        hosts.wait_for("every partition in sync", all_led_and_in_sync);
        hosts
    }

    fn status(&self) -> Value {
        let endpoint = format!("http://{}", self.etcd.addr());
        let (ok, out, err) = run_binary(
            "slotcache",
            &["status", "--json", "--etcd", &endpoint, "--cluster", "test"],
        );
        assert!(ok, "slotcache status: {err}");
        serde_json::from_str(&out).expect("status JSON")
    }

    /// Waits (up to a minute) until the cluster's state satisfies `done`; how long it took.
    fn wait_for(&self, what: &str, done: impl Fn(&Value) -> bool) -> Duration {
        let started = Instant::now();
        loop {
            let state = self.status();
            if done(&state) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "never: {what}; the partitions: {}\ncontroller log:\n{}",
                serde_json::to_string(&partition_records(&state)).unwrap_or_default(),
                self.controller.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn server(&self, node: &str) -> &Remote {
        &self.servers[Self::index(node)]
    }

    fn index(node: &str) -> usize {
        let number: usize = node[1..].parse().expect("node id");
        number - 1
    }

    /// kill -9 of `node`'s server, started again at once on its host.
    fn restart_server(&mut self, node: &str) {
        let index = Self::index(node);
        let host = self.servers[index].host.clone();
        let args: Vec<&str> = self.server_args[index].iter().map(String::as_str).collect();
        let old = &mut self.servers[index].process.child;
        let _ = old.kill();
        let _ = old.wait();
        self.servers[index] = self.network.start(&host, "slotcache-server", PORT, &args);
    }

    /// Every host but `victim`'s and etcd's.
    fn peers_of(&self, victim: &Host) -> Vec<Host> {
        let proxies = self.proxies.iter().map(|p| &p.host);
        let servers = self.servers.iter().map(|s| &s.host);
        std::iter::once(&self.controller.host)
            .chain(proxies)
            .chain(servers)
            .filter(|host| host.ip != victim.ip)
            .cloned()
            .collect()
    }
}

/// The node leading partition 0, and how many partitions it leads.
fn leader_of_first(state: &Value) -> (String, usize) {
    let records = partition_records(state);
    let leader = records[0]["leader"].as_str().expect("a leader").to_string();
    let led = records.iter().filter(|p| p["leader"] == leader).count();
    (leader, led)
}

fn led_only_by_others(state: &Value, victim: &str) -> bool {
    let records = partition_records(state);
    records.len() == PARTITIONS as usize
        && records
            .iter()
            .all(|p| p["leader"].is_string() && p["leader"] != victim)
}

/// The follower of partition 0 (its other replica).
fn follower_of_first(state: &Value) -> String {
    let records = partition_records(state);
    let leader = &records[0]["leader"];
    let replicas = records[0]["replicas"].as_array().expect("replicas");
    let follower = replicas.iter().find(|r| *r != leader).expect("a follower");
    follower.as_str().expect("a node id").to_string()
}

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

fn decisions(controller: &Remote) -> String {
    controller
        .log()
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("fence"))
        .collect::<Vec<_>>()
        .join("\n")
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
    eprintln!(
        "the controller's decisions:\n{}",
        decisions(&hosts.controller)
    );
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
    leader_cut(&hosts, "etcd only", |host| {
        hosts.network.cut(host, &hosts.etcd.host)
    });
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
    cut_from.push(hosts.etcd.host.clone());
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
    eprintln!(
        "the controller's decisions:\n{}",
        decisions(&hosts.controller)
    );
    assert_lost_nothing_and_only_uncertain_errors(&summary, 100);
}

fn all_led_and_in_sync(state: &Value) -> bool {
    let records = partition_records(state);
    records.len() == PARTITIONS as usize
        && records
            .iter()
            .all(|p| p["leader"].is_string() && p["isr"].as_array().is_some_and(|i| i.len() == 2))
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
    eprintln!(
        "the controller's decisions:\n{}",
        decisions(&hosts.controller)
    );
    assert_lost_nothing_and_only_uncertain_errors(&summary, 100);
}

#[test]
fn loss_between_a_proxy_and_the_servers_costs_no_write() {
    let hosts = Hosts::start();
    let proxy = hosts.proxies[0].host.clone();
    let servers: Vec<&Host> = hosts.servers.iter().map(|s| &s.host).collect();
    let summary = under_load(
        &hosts,
        || {
            hosts.network.lose(&proxy, &servers, 10);
            for server in &servers {
                hosts.network.lose(server, &[&proxy], 10);
            }
        },
        |_| true,
        Duration::from_secs(8),
    );
    summary.report("10% loss each way between a proxy and every server");
    assert_lost_nothing_and_only_uncertain_errors(&summary, 20);
}

/// At least `writes` were acknowledged, none lost, and clients saw no error but the one for a
/// request released from a silent server.
fn assert_lost_nothing_and_only_uncertain_errors(summary: &Summary, writes: usize) {
    assert!(summary.acked.len() > writes, "the load ran");
    assert_eq!(summary.lost, 0, "acknowledged writes lost");
    let uncertain = |e: &String| e.contains("may or may not have been applied");
    assert!(
        summary.errors.iter().all(uncertain),
        "errors other than the deadline's: {:?}",
        summary.errors
    );
}

/// The faults the nemesis mixes.
const FAULTS: [&str; 9] = [
    "leader cut from the proxies",
    "leader cut from every peer but etcd",
    "leader cut from etcd",
    "leader cut from etcd and its followers, the proxies still reaching it",
    "follower cut from its leader",
    "proxy cut from etcd",
    "10% loss between a proxy and the servers",
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
        let proxies: Vec<Host> = hosts.proxies.iter().map(|p| p.host.clone()).collect();
        let servers: Vec<Host> = hosts.servers.iter().map(|s| s.host.clone()).collect();
        let net = &hosts.network;
        let etcd = hosts.etcd.host.clone();
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
                net.cut(&host, &etcd);
                std::thread::sleep(hold);
                net.heal(&host, &etcd);
            }
            "leader cut from etcd and its followers, the proxies still reaching it" => {
                // What it leads stalls (no follower acknowledges, no lease confirms a read)
                // until the cut heals; nothing it answers may be stale or lost.
                let others: Vec<&Host> = servers.iter().filter(|s| s.ip != host.ip).collect();
                net.cut(&host, &etcd);
                others.iter().for_each(|s| net.cut(&host, s));
                std::thread::sleep(hold);
                others.iter().for_each(|s| net.heal(&host, s));
                net.heal(&host, &etcd);
            }
            "follower cut from its leader" => {
                let other = servers.iter().find(|s| s.ip != host.ip).expect("a peer");
                net.cut(&host, other);
                std::thread::sleep(hold);
                net.heal(&host, other);
            }
            "proxy cut from etcd" => {
                net.cut(&proxies[0], &etcd);
                std::thread::sleep(hold);
                net.heal(&proxies[0], &etcd);
            }
            "10% loss between a proxy and the servers" => {
                let targets: Vec<&Host> = servers.iter().collect();
                net.lose(&proxies[0], &targets, 10);
                targets.iter().for_each(|s| net.lose(s, &[&proxies[0]], 10));
                std::thread::sleep(hold);
                net.stop_losing(&proxies[0]);
                targets.iter().for_each(|s| net.stop_losing(s));
            }
            "SIGSTOP of a leader" => {
                let pid = hosts.server(&victim).pid().to_string();
                run_binary_signal("STOP", &pid);
                std::thread::sleep(hold);
                run_binary_signal("CONT", &pid);
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

fn run_binary_signal(signal: &str, pid: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), pid])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} {pid}");
}
