//! Where each of a cluster's records lives in etcd.

/// The etcd keys of one cluster, under `/slotcache/<cluster>/`.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(cluster: &str) -> Keys {
        Keys {
            prefix: format!("/slotcache/{cluster}/"),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn config(&self) -> String {
        format!("{}config", self.prefix)
    }

    /// The internal credential's secret (see [`crate::credential`]).
    pub fn secret(&self) -> String {
        format!("{}secret", self.prefix)
    }

    /// During a rotation, the secret before it, still accepted (see [`crate::credential`]).
    pub fn previous_secret(&self) -> String {
        format!("{}secret-previous", self.prefix)
    }

    pub fn slots(&self) -> String {
        format!("{}slots", self.prefix)
    }

    pub fn partitions(&self) -> String {
        format!("{}partitions/", self.prefix)
    }

    pub fn partition(&self, pid: u32) -> String {
        format!("{}partitions/{pid}", self.prefix)
    }

    pub fn nodes(&self) -> String {
        format!("{}nodes/", self.prefix)
    }

    pub fn active_nodes(&self) -> String {
        format!("{}nodes/active/", self.prefix)
    }

    pub fn node(&self, id: &str) -> String {
        format!("{}nodes/{id}", self.prefix)
    }

    pub fn active_node(&self, id: &str) -> String {
        format!("{}nodes/active/{id}", self.prefix)
    }

    pub fn proxies(&self) -> String {
        format!("{}proxies/", self.prefix)
    }

    pub fn proxy(&self, id: &str) -> String {
        format!("{}proxies/{id}", self.prefix)
    }

    /// ACL users, one key per user (its name in hex, as names are any bytes) whose value is
    /// the user's rules as ACL LIST writes them, passwords hashed: every proxy and server
    /// follows them.
    pub fn users(&self) -> String {
        format!("{}acl/users/", self.prefix)
    }

    pub fn user(&self, name: &[u8]) -> String {
        let hex: String = name.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}acl/users/{hex}", self.prefix)
    }

    /// The user name a key below [`Keys::users`] stands for.
    pub fn user_name(hex: &str) -> Option<Vec<u8>> {
        let digits = hex.as_bytes();
        if digits.len() % 2 != 0 {
            return None;
        }
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
            .collect()
    }

    /// Operator requests (`slotcache failover`, `partition move`) the leading controller
    /// carries out and then deletes.
    pub fn requests(&self) -> String {
        format!("{}requests/", self.prefix)
    }

    pub fn request(&self, kind: &str, pid: u32) -> String {
        format!("{}requests/{kind}/{pid}", self.prefix)
    }

    /// Reports that a node looks crashed or cut off, by node id then reporter; the controller
    /// confirms before it acts.
    pub fn suspects(&self) -> String {
        format!("{}suspects/", self.prefix)
    }

    /// Every report about `node`.
    pub fn suspicions_of(&self, node: &str) -> String {
        format!("{}suspects/{node}/", self.prefix)
    }

    pub fn suspect(&self, node: &str, reporter: &str) -> String {
        format!("{}suspects/{node}/{reporter}", self.prefix)
    }

    /// Nodes whose lease the controller revoked while their process may still run: they do
    /// not register again until the controller deletes the key (see `lease::register_unless_fenced`).
    pub fn fences(&self) -> String {
        format!("{}fenced/", self.prefix)
    }

    pub fn fence(&self, node: &str) -> String {
        format!("{}fenced/{node}", self.prefix)
    }

    /// The election name; etcd keeps each candidate's key under it.
    pub fn controller_election(&self) -> String {
        format!("{}controller/leader", self.prefix)
    }
}
