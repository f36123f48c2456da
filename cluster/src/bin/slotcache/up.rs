//! `slotcache up`: a whole local cluster in the foreground for development and demos: its own
//! etcd (data in a temp dir), shard servers, two controllers (and the proxies once built).
//! Ctrl-C stops every child; if `up` itself is killed, the children notice and exit. A part
//! that dies (a killed shard server, to watch a failover) is reported and the rest keep
//! serving; with `--restart` it is started again. When `up` fails, the logs stay.

use crate::output::Output;
use anyhow::Context;
use serde_json::json;
use slotcache_cluster::records::{ClusterConfig, RECORD_VERSION};
use slotcache_cluster::store::Store;
use slotcache_cluster::supervision::PARENT_ENV;
use slotcache_cluster::throwaway_tls::{Authority, Validity};
use slotcache_protocol::internal::Secret;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct UpOptions {
    #[arg(long, default_value_t = 3)]
    servers: u16,
    #[arg(long, default_value_t = 2)]
    proxies: u16,
    /// Proxies listen from here, servers from base-port+10, etcd on base-port+30; admin
    /// endpoints (/metrics) of proxies from base-port+20, of controllers on base-port+32 and
    /// +33, of servers from base-port+40.
    #[arg(long, default_value_t = 7000)]
    base_port: u16,
    #[arg(long, default_value_t = 16)]
    partitions: u32,
    #[arg(long, default_value_t = 2)]
    replication_factor: u32,
    #[arg(long, default_value = "local")]
    cluster: String,
    /// Each shard server's `maxmemory` (bytes, or with a unit: 64mb, 1gb), counted against
    /// the partitions it leads; unset, no limit.
    #[arg(long)]
    maxmemory: Option<String>,
    /// Each shard server's `maxmemory-policy`, e.g. allkeys-lru to try the cluster as a cache.
    #[arg(long)]
    maxmemory_policy: Option<String>,
    /// Start a server, controller or proxy again when it exits (its log goes on).
    #[arg(long)]
    restart: bool,
    /// Run without admin endpoints (and so without the proxies' per-command timing), to
    /// measure what metrics cost.
    #[arg(long)]
    no_metrics: bool,
    /// Serve TLS clients too, with a throwaway CA and certificates made in the logs'
    /// directory: proxies' TLS ports from base-port+50, servers' from base-port+60.
    #[arg(long)]
    tls: bool,
}

/// The certificates `up --tls` makes: a throwaway CA, one certificate for every part
/// (localhost and 127.0.0.1), and one for clients such as redis-cli.
struct LocalTls {
    dir: PathBuf,
}

impl LocalTls {
    fn make(dir: PathBuf) -> anyhow::Result<LocalTls> {
        std::fs::create_dir_all(&dir)?;
        let ca = Authority::new("slotcache up throwaway CA")?;
        let part = ca.issue("slotcache", &["localhost", "127.0.0.1"], Validity::Current)?;
        let client = ca.issue("redis-cli", &[], Validity::Current)?;
        for (name, pem) in [
            ("ca.crt", ca.pem()),
            ("part.crt", &part.cert_pem),
            ("part.key", &part.key_pem),
            ("client.crt", &client.cert_pem),
            ("client.key", &client.key_pem),
        ] {
            std::fs::write(dir.join(name), pem)?;
        }
        Ok(LocalTls { dir })
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// A server's or proxy's TLS flags, serving on `port`; the links to servers are TLS too.
    fn flags(&self, port: u16) -> Vec<String> {
        let mut flags = vec!["--tls-port".into(), port.to_string()];
        flags.extend(self.link_flags());
        flags
    }

    /// What any part needs to reach shard servers over TLS.
    fn link_flags(&self) -> Vec<String> {
        vec![
            "--tls-cluster".into(),
            "yes".into(),
            "--tls-cert-file".into(),
            self.path("part.crt"),
            "--tls-key-file".into(),
            self.path("part.key"),
            "--tls-ca-cert-file".into(),
            self.path("ca.crt"),
        ]
    }

    /// What redis-cli needs to connect.
    fn cli_flags(&self) -> String {
        format!(
            "--tls --cacert {} --cert {} --key {}",
            self.path("ca.crt"),
            self.path("client.crt"),
            self.path("client.key")
        )
    }
}

/// A listener's flags: loopback, its port, and the cluster it belongs to.
fn listener_args(port: u16, cluster_flags: &[String]) -> Vec<String> {
    let mut args = vec![
        "--bind".to_string(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
    ];
    args.extend(cluster_flags.iter().cloned());
    args
}

/// One part of the local cluster: how to start it, and its process while it runs.
struct Part {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

/// The children, killed when dropped; the temp dir goes with them unless `keep_logs`.
struct Children {
    dir: PathBuf,
    parts: Vec<Part>,
    keep_logs: bool,
}

impl Children {
    fn spawn(&mut self, name: &str, program: &Path, args: &[String]) -> anyhow::Result<()> {
        let mut part = Part {
            name: name.to_string(),
            program: program.to_path_buf(),
            args: args.to_vec(),
            child: None,
        };
        self.start(&mut part)?;
        self.parts.push(part);
        Ok(())
    }

    /// Starts a part, its output appended to its log.
    fn start(&self, part: &mut Part) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(&part.name))?;
        let child = Command::new(&part.program)
            .args(&part.args)
            .env(PARENT_ENV, std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", part.program.display()))?;
        part.child = Some(child);
        Ok(())
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// The parts that exited since the last look, with how they ended.
    fn exits(&mut self) -> Vec<(String, std::process::ExitStatus)> {
        let mut exits = Vec::new();
        for part in &mut self.parts {
            if let Some(Ok(Some(status))) = part.child.as_mut().map(Child::try_wait) {
                part.child = None;
                exits.push((part.name.clone(), status));
            }
        }
        exits
    }

    fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        let Some(index) = self.parts.iter().position(|p| p.name == name) else {
            return Ok(());
        };
        let mut part = self.parts.swap_remove(index);
        let started = self.start(&mut part);
        self.parts.push(part);
        started
    }

    /// Fails with `what` and the last lines of `name`'s log; the logs stay for reading.
    fn fail(&mut self, name: &str, what: String) -> anyhow::Error {
        self.keep_logs = true;
        let log = self.log(name);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n");
        anyhow::anyhow!(
            "{what}; the last lines of {}:\n{tail}\n(the logs stay in {})",
            log.display(),
            self.dir.display()
        )
    }
}

/// How many lines of a failed part's log `up` prints.
const LOG_TAIL: usize = 20;

impl Drop for Children {
    fn drop(&mut self) {
        for part in self.parts.iter_mut().rev() {
            let Some(child) = part.child.as_mut() else {
                continue;
            };
            // etcd's supervisor stops it when its stdin closes; a SIGKILL would orphan etcd.
            drop(child.stdin.take());
            if part.name != "etcd" {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        if !self.keep_logs {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Offsets from the base port of the parts' admin endpoints.
const ADMIN_PROXY: u16 = 20;
const ADMIN_CONTROLLER: u16 = 32;
const ADMIN_SERVER: u16 = 40;
const TLS_PROXY: u16 = 50;
const TLS_SERVER: u16 = 60;

/// Gives a part its admin endpoint on `port`, unless metrics are off.
fn admin_flag(args: &mut Vec<String>, options: &UpOptions, port: u16) {
    if !options.no_metrics {
        args.extend(["--admin-port".into(), port.to_string()]);
    }
}

/// Fails when a port `up` would use is taken, before anything starts: its parts would fail to
/// bind one by one.
fn ensure_ports_free(options: &UpOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        options.servers <= 10 && options.proxies <= 10,
        "`up` runs at most 10 servers and 10 proxies (their ports are laid out from --base-port)"
    );
    let base = options.base_port;
    let offsets = (0..options.proxies)
        .chain((0..options.servers).map(|i| 10 + i))
        .chain((0..options.proxies).map(|i| ADMIN_PROXY + i))
        .chain((0..options.servers).map(|i| ADMIN_SERVER + i))
        .chain([30, 31, ADMIN_CONTROLLER, ADMIN_CONTROLLER + 1])
        .chain((0..options.proxies * u16::from(options.tls)).map(|i| TLS_PROXY + i))
        .chain((0..options.servers * u16::from(options.tls)).map(|i| TLS_SERVER + i));
    for offset in offsets {
        let port = base
            .checked_add(offset)
            .context("--base-port is too high for the ports `up` needs above it")?;
        std::net::TcpListener::bind(("127.0.0.1", port)).with_context(|| {
            format!(
                "port {port} is taken (by an earlier `slotcache up`?); pick another --base-port"
            )
        })?;
    }
    Ok(())
}

pub async fn up(options: UpOptions, out: Output) -> anyhow::Result<()> {
    ensure_ports_free(&options)?;
    let me = std::env::current_exe().context("locating the slotcache binary")?;
    let bin_dir = me.parent().context("the binary's directory")?.to_path_buf();
    let dir = std::env::temp_dir().join(format!("slotcache-up-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut children = Children {
        dir: dir.clone(),
        parts: Vec::new(),
        keep_logs: false,
    };
    let base = options.base_port;
    let (etcd_port, peer_port) = (base + 30, base + 31);
    let endpoint = format!("http://127.0.0.1:{etcd_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    let etcd_args: Vec<String> = [
        "supervise",
        "etcd",
        "--name",
        "up",
        "--data-dir",
        &dir.join("etcd").to_string_lossy(),
        "--listen-client-urls",
        &endpoint,
        "--advertise-client-urls",
        &endpoint,
        "--listen-peer-urls",
        &peer,
        "--initial-advertise-peer-urls",
        &peer,
        "--initial-cluster",
        &format!("up={peer}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    children.spawn("etcd", &me, &etcd_args)?;
    let mut store = match Store::connect(&endpoint, &options.cluster, Duration::from_secs(20)).await
    {
        Ok(store) => store,
        Err(err) => {
            let what = format!(
                "waiting for the local etcd (is etcd installed? apt-get install etcd-server): {err}"
            );
            return Err(children.fail("etcd", what));
        }
    };
    let config = ClusterConfig {
        version: RECORD_VERSION,
        partitions: options.partitions,
        replication_factor: options.replication_factor,
        ..ClusterConfig::default()
    };
    store
        .init_cluster(&config, Some(&Secret::generate()), true)
        .await?;
    let cluster_flags = ["--etcd", &endpoint, "--cluster", &options.cluster].map(String::from);
    let tls = match options.tls {
        true => Some(LocalTls::make(dir.join("tls"))?),
        false => None,
    };
    let mut server_ports = Vec::new();
    for i in 0..options.servers {
        let port = base + 10 + i;
        let mut args = listener_args(port, &cluster_flags);
        args.extend(["--node-id".into(), format!("server-{}", i + 1)]);
        admin_flag(&mut args, &options, base + ADMIN_SERVER + i);
        if let Some(limit) = &options.maxmemory {
            args.extend(["--maxmemory".into(), limit.clone()]);
        }
        if let Some(policy) = &options.maxmemory_policy {
            args.extend(["--maxmemory-policy".into(), policy.clone()]);
        }
        if let Some(tls) = &tls {
            args.extend(tls.flags(base + TLS_SERVER + i));
            args.extend(["--tls-replication".into(), "yes".into()]);
        }
        children.spawn(
            &format!("server-{}", i + 1),
            &bin_dir.join("slotcache-server"),
            &args,
        )?;
        server_ports.push(port);
    }
    for i in 1..=2 {
        let mut args = cluster_flags.to_vec();
        args.extend(["--id".into(), format!("controller-{i}")]);
        let admin = base + ADMIN_CONTROLLER + i - 1;
        admin_flag(&mut args, &options, admin);
        if let Some(tls) = &tls {
            args.extend(tls.link_flags());
        }
        children.spawn(
            &format!("controller-{i}"),
            &bin_dir.join("slotcache-controller"),
            &args,
        )?;
    }
    let proxy = bin_dir.join("slotcache-proxy");
    let mut proxy_ports = Vec::new();
    if options.proxies > 0 && proxy.exists() {
        for i in 0..options.proxies {
            let port = base + i;
            let mut args = listener_args(port, &cluster_flags);
            admin_flag(&mut args, &options, base + ADMIN_PROXY + i);
            if let Some(tls) = &tls {
                args.extend(tls.flags(base + TLS_PROXY + i));
            }
            children.spawn(&format!("proxy-{}", i + 1), &proxy, &args)?;
            proxy_ports.push(port);
        }
    }
    wait_for_placement(&mut store, &mut children).await?;
    let metrics = |offset: u16| match options.no_metrics {
        true => String::new(),
        false => format!("http://127.0.0.1:{}/metrics", base + offset),
    };
    if out.json {
        let parts = |ports: &[u16], offset: u16, tls_offset: u16| -> Vec<serde_json::Value> {
            (0..)
                .zip(ports)
                .map(|(i, port)| {
                    let tls_addr = tls
                        .as_ref()
                        .map(|_| format!("127.0.0.1:{}", base + tls_offset + i));
                    json!({"addr": format!("127.0.0.1:{port}"), "tls_addr": tls_addr, "metrics": metrics(offset + i)})
                })
                .collect()
        };
        let controllers: Vec<String> = (0..2).map(|i| metrics(ADMIN_CONTROLLER + i)).collect();
        out.result(json!({
            "cluster": options.cluster,
            "etcd": endpoint,
            "servers": parts(&server_ports, ADMIN_SERVER, TLS_SERVER),
            "controllers": controllers,
            "proxies": parts(&proxy_ports, ADMIN_PROXY, TLS_PROXY),
            "tls_cli_flags": tls.as_ref().map(LocalTls::cli_flags),
            "logs": dir.display().to_string(),
        }));
    } else {
        print_banner(
            &options,
            &endpoint,
            &server_ports,
            &proxy_ports,
            &dir,
            &metrics,
            &tls.as_ref()
                .map(|tls| format!(" {}", tls.link_flags().join(" ")))
                .unwrap_or_default(),
        );
        if let Some(tls) = &tls {
            let port = base + TLS_PROXY;
            println!("over TLS: redis-cli {} -p {port}", tls.cli_flags());
            println!(
                "          (TLS ports: proxies from {}, servers from {})",
                base + TLS_PROXY,
                base + TLS_SERVER
            );
        }
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                println!("stopping");
                return Ok(());
            }
            _ = terminate.recv() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                for (name, status) in children.exits() {
                    if name == "etcd" {
                        return Err(children.fail(&name, format!("etcd exited ({status})")));
                    }
                    let log = children.log(&name).display().to_string();
                    let exited = json!({"exited": name, "status": status.to_string(), "log": log, "restarted": options.restart});
                    if options.restart {
                        out.event(format!("{name} exited ({status}); starting it again"), exited);
                        children.restart(&name)?;
                    } else {
                        out.event(format!(
                            "{name} exited ({status}); the rest keep serving (its log: {log}). `slotcache up --restart` starts parts that exit again."
                        ), exited);
                    }
                }
            }
        }
    }
}

async fn wait_for_placement(store: &mut Store, children: &mut Children) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((name, status)) = children.exits().pop() {
            let what = format!("{name} exited during start-up ({status})");
            return Err(children.fail(&name, what));
        }
        let state = store.state().await?;
        if state.partitions.iter().all(|(_, p)| p.leader.is_some()) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let what = "partitions were not placed within 30 s".to_string();
            return Err(children.fail("controller-1", what));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What `up` prints for people once the cluster runs: every part's address and metrics URL,
/// how to connect, and where the logs are.
fn print_banner(
    options: &UpOptions,
    endpoint: &str,
    server_ports: &[u16],
    proxy_ports: &[u16],
    dir: &std::path::Path,
    metrics: &dyn Fn(u16) -> String,
    status_flags: &str,
) {
    println!("slotcache up: cluster '{}' is running", options.cluster);
    println!("  etcd         {endpoint}");
    for (i, port) in (0..).zip(server_ports) {
        let admin = metrics(ADMIN_SERVER + i);
        println!("  server-{:<5} 127.0.0.1:{port}   {admin}", i + 1);
    }
    for i in 0..2 {
        let admin = metrics(ADMIN_CONTROLLER + i);
        println!("  controller-{}                  {admin}", i + 1);
    }
    for (i, port) in (0..).zip(proxy_ports) {
        let admin = metrics(ADMIN_PROXY + i);
        println!("  proxy-{:<6} 127.0.0.1:{port}   {admin}", i + 1);
    }
    match (proxy_ports.first(), server_ports.first()) {
        (Some(port), _) => println!("connect:  redis-cli -c -p {port}"),
        (None, Some(port)) => println!("connect:  redis-cli -p {port}   (a shard server; proxies come with the proxy component)"),
        (None, None) => {}
    }
    println!(
        "status:   slotcache status --etcd {endpoint} --cluster {}{status_flags}",
        options.cluster
    );
    println!("logs:     {}", dir.display());
    match options.restart {
        true => println!("A part that exits is started again. Ctrl-C stops everything."),
        false => println!(
            "Kill a server to watch its partitions fail over (`slotcache status`); the rest keep serving. Ctrl-C stops everything."
        ),
    }
}
