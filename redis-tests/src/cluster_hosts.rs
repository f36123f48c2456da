//! A slotcache cluster spread over hosts ([`crate::hosts`]): a three-member etcd, three shard
//! servers, a controller and two proxies, each on a host of its own. The first proxy reaches
//! the servers through a slow link (a relay host, fast until slowed), as a proxy in another
//! data centre would; the second reaches them directly.

use crate::cluster::{partition_records, TTL};
use crate::failover::signal;
use crate::hosts::{nft, Host, Network, Remote};
use crate::run_binary;
use serde_json::Value;
use std::time::{Duration, Instant};

pub const PARTITIONS: u32 = 4;
const PORT: u16 = 6379;
/// One way, when the slow link is slowed.
pub const SLOW_LINK_DELAY_MS: u64 = 50;

/// The cluster's processes and hosts.
pub struct Hosts {
    // Fields drop in order: processes first, the network (namespaces, bridge) last.
    pub servers: Vec<Remote>,
    /// Each server's command line, to start it again.
    server_args: Vec<Vec<String>>,
    pub controller: Remote,
    pub proxies: Vec<Remote>,
    /// The relay between the first proxy and the servers.
    pub slow_link: Remote,
    pub etcd: Vec<Remote>,
    pub network: Network,
}

impl Hosts {
    pub fn start() -> Hosts {
        let network = Network::new();
        let etcd_hosts: Vec<Host> = (0..3).map(|_| network.host()).collect();
        let etcd = network.etcd(&etcd_hosts);
        let endpoints: Vec<String> = etcd
            .iter()
            .map(|m| format!("http://{}", m.addr()))
            .collect();
        let endpoints = endpoints.join(",");
        let (partitions, ttl) = (PARTITIONS.to_string(), TTL.to_string());
        let (ok, _, err) = run_binary(
            "slotcache",
            &[
                "cluster",
                "init",
                "--etcd",
                &endpoints,
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
        let cluster = ["--etcd", &endpoints, "--cluster", "test"];
        let command_line = |host: &Host, extra: &[&str]| {
            let (ip, port) = (host.ip.to_string(), PORT.to_string());
            let mut args = vec!["--bind", &ip, "--port", &port, "--protected-mode", "no"];
            args.extend_from_slice(&cluster);
            args.extend_from_slice(extra);
            args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
        };
        let serve = |network: &Network, host: Host, name: &str, extra: &[&str]| {
            let args = command_line(&host, extra);
            let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
            (network.start(&host, name, PORT, &args_ref), args)
        };
        let (servers, server_args): (Vec<Remote>, Vec<Vec<String>>) = ["n1", "n2", "n3"]
            .iter()
            .map(|node| {
                let extra = ["--node-id", node];
                serve(&network, network.host(), "slotcache-server", &extra)
            })
            .unzip();
        let mut controller_args = cluster.to_vec();
        controller_args.extend(["--id", "c1"]);
        let controller =
            network.start(&network.host(), "slotcache-controller", 0, &controller_args);
        let first_proxy = network.host();
        let slow_link = slow_link(&network, &first_proxy, &servers);
        let proxies = [first_proxy, network.host()]
            .into_iter()
            .map(|host| serve(&network, host, "slotcache-proxy", &[]).0)
            .collect();
        let hosts = Hosts {
            servers,
            server_args,
            controller,
            proxies,
            slow_link,
            etcd,
            network,
        };
        hosts.wait_for("every partition in sync", all_led_and_in_sync);
        hosts
    }

    /// Every etcd member's client URL, comma separated.
    pub fn endpoints(&self) -> String {
        let urls: Vec<String> = self
            .etcd
            .iter()
            .map(|m| format!("http://{}", m.addr()))
            .collect();
        urls.join(",")
    }

    pub fn status(&self) -> Value {
        let endpoints = self.endpoints();
        let (ok, out, err) = run_binary(
            "slotcache",
            &[
                "status",
                "--json",
                "--etcd",
                &endpoints,
                "--cluster",
                "test",
            ],
        );
        assert!(ok, "slotcache status: {err}");
        serde_json::from_str(&out).expect("status JSON")
    }

    /// Waits (up to a minute) until the cluster's state satisfies `done`; how long it took.
    pub fn wait_for(&self, what: &str, done: impl Fn(&Value) -> bool) -> Duration {
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

    pub fn server(&self, node: &str) -> &Remote {
        &self.servers[Self::index(node)]
    }

    fn index(node: &str) -> usize {
        let number: usize = node[1..].parse().expect("node id");
        number - 1
    }

    /// kill -9 of `node`'s server, started again at once on its host.
    pub fn restart_server(&mut self, node: &str) {
        let index = Self::index(node);
        let host = self.servers[index].host.clone();
        let args: Vec<&str> = self.server_args[index].iter().map(String::as_str).collect();
        let old = &mut self.servers[index].process.child;
        let _ = old.kill();
        let _ = old.wait();
        self.servers[index] = self.network.start(&host, "slotcache-server", PORT, &args);
    }

    /// The hosts that send requests to the servers: the proxies and the slow link.
    pub fn proxy_side(&self) -> Vec<Host> {
        let proxies = self.proxies.iter().map(|p| p.host.clone());
        proxies.chain([self.slow_link.host.clone()]).collect()
    }

    /// Every host but etcd's: the controller's, the proxy side's and the servers'.
    fn clients_of_etcd(&self) -> impl Iterator<Item = Host> + '_ {
        let servers = self.servers.iter().map(|s| s.host.clone());
        std::iter::once(self.controller.host.clone())
            .chain(self.proxy_side())
            .chain(servers)
    }

    /// Every host but `victim`'s and etcd's.
    pub fn peers_of(&self, victim: &Host) -> Vec<Host> {
        self.clients_of_etcd()
            .filter(|host| host.ip != victim.ip)
            .collect()
    }

    /// Cuts `host` from every etcd member, both ways.
    pub fn cut_from_etcd(&self, host: &Host) {
        self.etcd
            .iter()
            .for_each(|m| self.network.cut(host, &m.host));
    }

    /// Undoes [`Hosts::cut_from_etcd`].
    pub fn heal_from_etcd(&self, host: &Host) {
        self.etcd
            .iter()
            .for_each(|m| self.network.heal(host, &m.host));
    }

    /// Cuts each of `cut_off` from every other host, both ways; the links cut, for
    /// [`Hosts::heal_all`].
    pub fn isolate(&self, cut_off: &[&Host]) -> Vec<(Host, Host)> {
        let members = self.etcd.iter().map(|m| m.host.clone());
        let everyone: Vec<Host> = self.clients_of_etcd().chain(members).collect();
        let mut links: Vec<(Host, Host)> = Vec::new();
        for a in cut_off {
            for b in everyone.iter().filter(|b| b.ip != a.ip) {
                if !links.iter().any(|(x, y)| x.ip == b.ip && y.ip == a.ip) {
                    self.network.cut(a, b);
                    links.push(((*a).clone(), b.clone()));
                }
            }
        }
        links
    }

    /// Heals every link of `links`.
    pub fn heal_all(&self, links: &[(Host, Host)]) {
        links.iter().for_each(|(a, b)| self.network.heal(a, b));
    }

    /// 50 ms more each way between the first proxy and the servers, and `percent` % of the
    /// packets between them lost; `percent` 0 and `slow` false undo it.
    pub fn degrade_first_proxy_link(&self, slow: bool, percent: u8) {
        let (proxy, relay) = (&self.proxies[0].host, &self.slow_link.host);
        if percent > 0 {
            self.network.lose(proxy, &[relay], percent);
            self.network.lose(relay, &[proxy], percent);
        } else {
            self.network.stop_losing(proxy);
            self.network.stop_losing(relay);
        }
        signal(&self.slow_link.process, if slow { "USR1" } else { "USR2" });
    }

    /// The controller's warnings and fencing decisions, from its log.
    pub fn decisions(&self) -> String {
        self.controller
            .log()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("fence"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A relay host between `proxy` and `servers` (`slow-link`), and the proxy's host sending
/// what it addresses to a server's port there (nftables DNAT), so the proxy still dials the
/// addresses the servers register.
fn slow_link(network: &Network, proxy: &Host, servers: &[Remote]) -> Remote {
    let relay = network.host();
    let routes: Vec<(u16, &Remote)> = servers
        .iter()
        .enumerate()
        .map(|(index, server)| (PORT + 1 + index as u16, server))
        .collect();
    let args: Vec<String> = routes
        .iter()
        .map(|(port, server)| format!("{}:{port}={}", relay.ip, server.addr()))
        .collect();
    let delay = SLOW_LINK_DELAY_MS.to_string();
    let mut all = vec!["--delay-ms", &delay];
    all.extend(args.iter().map(String::as_str));
    let remote = network.start(&relay, "slow-link", 0, &all);
    let rules: String = routes
        .iter()
        .map(|(port, server)| {
            format!(
                "add rule ip slow_link out ip daddr {} tcp dport {PORT} dnat to {}:{port}\n",
                server.host.ip, relay.ip
            )
        })
        .collect();
    nft(
        proxy,
        &format!(
            "table ip slow_link {{\nchain out {{ type nat hook output priority -100; }}\n}}\n{rules}"
        ),
    );
    remote
}

pub fn all_led_and_in_sync(state: &Value) -> bool {
    let records = partition_records(state);
    records.len() == PARTITIONS as usize
        && records
            .iter()
            .all(|p| p["leader"].is_string() && p["isr"].as_array().is_some_and(|i| i.len() == 2))
}

/// The node leading partition 0, and how many partitions it leads.
pub fn leader_of_first(state: &Value) -> (String, usize) {
    let records = partition_records(state);
    let leader = records[0]["leader"].as_str().expect("a leader").to_string();
    let led = records.iter().filter(|p| p["leader"] == leader).count();
    (leader, led)
}

/// Every partition led, none by `victim`.
pub fn led_only_by_others(state: &Value, victim: &str) -> bool {
    let records = partition_records(state);
    records.len() == PARTITIONS as usize
        && records
            .iter()
            .all(|p| p["leader"].is_string() && p["leader"] != victim)
}

/// The follower of partition 0 (its other replica).
pub fn follower_of_first(state: &Value) -> String {
    let records = partition_records(state);
    let leader = &records[0]["leader"];
    let replicas = records[0]["replicas"].as_array().expect("replicas");
    let follower = replicas.iter().find(|r| *r != leader).expect("a follower");
    follower.as_str().expect("a node id").to_string()
}
