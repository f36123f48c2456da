//! A cluster on an etcd with authentication on, reached as a user whose role allows only the
//! keys under `/slotcache/`: `cluster init`, shard servers, a controller and a proxy all log
//! in (`SLOTCACHE_ETCD_USER`), the cluster serves, and the CLI without the user or with a
//! wrong password is refused.
//!
//! The variable is set for this binary's one test, and every process it starts inherits it.

use redis_tests::cluster::Cluster;
use redis_tests::start_etcd_cluster;
use std::ffi::OsStr;

const USER: &str = "slotcache:cache-pass";

/// Turns etcd's authentication on, with root and a user limited to slotcache's keys.
async fn enable_auth(endpoint: &str) {
    use etcd_client::{Client, Permission};
    let mut client = Client::connect([endpoint], None).await.expect("etcd");
    client.user_add("root", "root-pass", None).await.unwrap();
    client.user_grant_role("root", "root").await.unwrap();
    client.role_add("slotcache").await.unwrap();
    let keys = Permission::read_write("/slotcache/").with_prefix();
    client
        .role_grant_permission("slotcache", keys)
        .await
        .unwrap();
    client
        .user_add("slotcache", "cache-pass", None)
        .await
        .unwrap();
    client
        .user_grant_role("slotcache", "slotcache")
        .await
        .unwrap();
    client.auth_enable().await.unwrap();
}

/// `slotcache status` with `user` (or none) for etcd: (success, stdout + stderr).
fn status_as(cluster: &Cluster, user: Option<&str>) -> (bool, String) {
    cluster.status_with_env(&[("SLOTCACHE_ETCD_USER", user.map(OsStr::new))])
}

#[test]
fn a_cluster_runs_on_an_etcd_with_authentication() {
    let etcd = start_etcd_cluster(1).remove(0);
    let endpoint = format!("http://127.0.0.1:{}", etcd.port);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(enable_auth(&endpoint));
    std::env::set_var("SLOTCACHE_ETCD_USER", USER);
    let (cluster, _processes) = Cluster::serving_on(etcd, endpoint);

    let (ok, out) = status_as(&cluster, Some(USER));
    assert!(ok, "{out}");
    let (ok, out) = status_as(&cluster, None);
    assert!(!ok, "status without an etcd user: {out}");
    let (ok, out) = status_as(&cluster, Some("slotcache:wrong"));
    assert!(!ok, "status with a wrong password: {out}");
    // A user that is not name:password is a usage error, not a hang.
    let (ok, out) = status_as(&cluster, Some("slotcache"));
    assert!(!ok && out.contains("name:password"), "{out}");
}
