//! A cluster on an etcd served over TLS that checks client certificates
//! (`--client-cert-auth`): `cluster init`, shard servers, a controller and a proxy all reach
//! it with the CA and a client certificate (`SLOTCACHE_ETCD_CACERT`, `SLOTCACHE_ETCD_CERT`,
//! `SLOTCACHE_ETCD_KEY`), the cluster serves, and the CLI without a client certificate or
//! trusting another CA is refused.
//!
//! The variables are set for this binary's one test, and every process it starts inherits
//! them.

use redis_tests::cluster::Cluster;
use redis_tests::{free_port, Process};
use slotcache_cluster::throwaway_tls::{Authority, Validity};
use std::path::Path;
use std::process::{Command, Stdio};

/// The CA, etcd's certificate, a client's, and another CA.
fn certificates(dir: &Path) {
    let ca = Authority::new("etcd test CA").unwrap();
    let etcd = ca
        .issue("etcd", &["localhost", "127.0.0.1"], Validity::Current)
        .unwrap();
    let client = ca.issue("slotcache", &[], Validity::Current).unwrap();
    let other = Authority::new("another CA").unwrap();
    for (name, pem) in [
        ("ca.crt", ca.pem()),
        ("etcd.crt", &etcd.cert_pem),
        ("etcd.key", &etcd.key_pem),
        ("client.crt", &client.cert_pem),
        ("client.key", &client.key_pem),
        ("other-ca.crt", other.pem()),
    ] {
        std::fs::write(dir.join(name), pem).unwrap();
    }
}

/// etcd serving clients over TLS only, with client certificates checked.
fn start_tls_etcd(dir: &Path) -> Process {
    let (port, peer) = (free_port(), free_port());
    let client_url = format!("https://127.0.0.1:{port}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let file = |name: &str| dir.join(name).display().to_string();
    let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
    let child = Command::new("etcd")
        .args(["--name", "m0", "--data-dir", &file("data")])
        .args(["--listen-client-urls", &client_url])
        .args(["--advertise-client-urls", &client_url])
        .args(["--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("m0={peer_url}")])
        .args([
            "--cert-file",
            &file("etcd.crt"),
            "--key-file",
            &file("etcd.key"),
        ])
        .args(["--trusted-ca-file", &file("ca.crt"), "--client-cert-auth"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("etcd");
    Process {
        child,
        port,
        dir: dir.to_path_buf(),
    }
}

#[test]
fn a_cluster_runs_on_an_etcd_over_tls_with_client_certificates() {
    let dir = std::env::temp_dir().join(format!("slotcache-etcd-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    certificates(&dir);
    let etcd = start_tls_etcd(&dir);
    let [ca, cert, key] = ["ca.crt", "client.crt", "client.key"].map(|name| dir.join(name));
    let vars = [
        ("SLOTCACHE_ETCD_CACERT", ca.as_os_str()),
        ("SLOTCACHE_ETCD_CERT", cert.as_os_str()),
        ("SLOTCACHE_ETCD_KEY", key.as_os_str()),
    ];
    for (name, path) in vars {
        std::env::set_var(name, path);
    }
    let endpoint = format!("https://127.0.0.1:{}", etcd.port);
    let (cluster, _processes) = Cluster::serving_on(etcd, endpoint);

    let (ok, out) = cluster.status_with_env(&[]);
    assert!(ok, "{out}");
    let no_cert = [(vars[1].0, None), (vars[2].0, None)];
    let (ok, out) = cluster.status_with_env(&no_cert);
    assert!(!ok, "status without a client certificate: {out}");
    let other = dir.join("other-ca.crt");
    let (ok, out) = cluster.status_with_env(&[(vars[0].0, Some(other.as_os_str()))]);
    assert!(!ok, "status trusting another CA: {out}");
}
