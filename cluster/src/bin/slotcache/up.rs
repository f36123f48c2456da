//! `slotcache up`: a whole local cluster in the foreground for development and demos: its own
//! etcd (data in a temp dir), shard servers, two controllers (and the proxies once built).
//! Ctrl-C stops every child; if `up` itself is killed, the children notice and exit.

use anyhow::Context;
use slotcache_cluster::records::{ClusterConfig, RECORD_VERSION};
use slotcache_cluster::store::Store;
use slotcache_cluster::supervision::PARENT_ENV;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct UpOptions {
    #[arg(long, default_value_t = 3)]
    servers: u16,
    #[arg(long, default_value_t = 2)]
    proxies: u16,
    /// Proxies listen from here, servers from base-port+10, etcd on base-port+30.
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

/// The children, killed (and the temp dir removed) when dropped.
struct Children {
    dir: PathBuf,
    running: Vec<(String, Child)>,
}

impl Children {
    fn spawn(&mut self, name: &str, program: &Path, args: &[String]) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))?;
        let child = Command::new(program)
            .args(args)
            .env(PARENT_ENV, std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        self.running.push((name.to_string(), child));
        Ok(())
    }

    /// The first child that exited, if any did.
    fn exited(&mut self) -> Option<String> {
        self.running
            .iter_mut()
            .find_map(|(name, child)| matches!(child.try_wait(), Ok(Some(_))).then(|| name.clone()))
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for (name, child) in self.running.iter_mut().rev() {
            // etcd's supervisor stops it when its stdin closes; a SIGKILL would orphan etcd.
            drop(child.stdin.take());
            if name != "etcd" {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub async fn up(options: UpOptions) -> anyhow::Result<()> {
    let me = std::env::current_exe().context("locating the slotcache binary")?;
    let bin_dir = me.parent().context("the binary's directory")?.to_path_buf();
    let dir = std::env::temp_dir().join(format!("slotcache-up-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut children = Children {
        dir: dir.clone(),
        running: Vec::new(),
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
    let mut store = Store::connect(&endpoint, &options.cluster, Duration::from_secs(20))
        .await
        .context("waiting for the local etcd (is etcd installed? apt-get install etcd-server)")?;
    let config = ClusterConfig {
        version: RECORD_VERSION,
        partitions: options.partitions,
        replication_factor: options.replication_factor,
        ..ClusterConfig::default()
    };
    store.init_cluster(&config, true).await?;
    let cluster_flags = ["--etcd", &endpoint, "--cluster", &options.cluster].map(String::from);
    let mut server_ports = Vec::new();
    for i in 0..options.servers {
        let port = base + 10 + i;
        let mut args = listener_args(port, &cluster_flags);
        args.extend(["--node-id".into(), format!("server-{}", i + 1)]);
        if let Some(limit) = &options.maxmemory {
            args.extend(["--maxmemory".into(), limit.clone()]);
        }
        if let Some(policy) = &options.maxmemory_policy {
            args.extend(["--maxmemory-policy".into(), policy.clone()]);
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
            let args = listener_args(port, &cluster_flags);
            children.spawn(&format!("proxy-{}", i + 1), &proxy, &args)?;
            proxy_ports.push(port);
        }
    }
    wait_for_placement(&mut store, &mut children).await?;
    println!("slotcache up: cluster '{}' is running", options.cluster);
    println!("  etcd         {endpoint}");
    for (i, port) in server_ports.iter().enumerate() {
        println!("  server-{:<5} 127.0.0.1:{port}", i + 1);
    }
    println!("  controllers  controller-1, controller-2");
    for (i, port) in proxy_ports.iter().enumerate() {
        println!("  proxy-{:<6} 127.0.0.1:{port}", i + 1);
    }
    match (proxy_ports.first(), server_ports.first()) {
        (Some(port), _) => println!("connect:  redis-cli -c -p {port}"),
        (None, Some(port)) => println!("connect:  redis-cli -p {port}   (a shard server; proxies come with the proxy component)"),
        (None, None) => {}
    }
    println!(
        "status:   slotcache status --etcd {endpoint} --cluster {}",
        options.cluster
    );
    println!("logs:     {}", dir.display());
    println!("Ctrl-C stops everything.");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                println!("stopping");
                return Ok(());
            }
            _ = terminate.recv() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                if let Some(name) = children.exited() {
                    anyhow::bail!("{name} exited; see its log in {} (stopping the rest)", dir.display());
                }
            }
        }
    }
}

async fn wait_for_placement(store: &mut Store, children: &mut Children) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(name) = children.exited() {
            anyhow::bail!(
                "{name} exited during start-up; see {}",
                children.dir.join(format!("{name}.log")).display()
            );
        }
        let state = store.state().await?;
        if state.partitions.iter().all(|(_, p)| p.leader.is_some()) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "partitions were not placed within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
