//! The cluster's internal credential: what proxies, controllers, the CLI and followers present
//! to shard servers, so that a cluster whose users have passwords still works, and the
//! replication port serves nobody else. It is a cluster secret (kept in etcd, or given in a
//! file), never a user's password, and it logs in as a reserved user name that ACL SETUSER
//! refuses.
//!
//! A process knows one cluster, so the secret is installed for the process: every link it
//! opens to a shard server (proxy lanes, dedicated connections, controller probes, the
//! follower's stream) then presents it without threading it through each call. A rotation
//! installs the next secret while the previous one is still accepted (see `cluster::credential`).

use parking_lot::RwLock;
use std::sync::Arc;

/// The user name internal links log in as (`AUTH slotcache-internal <secret>`).
pub const USER: &str = "slotcache-internal";

/// Why ACL SETUSER refuses the reserved name.
pub const RESERVED: &str =
    "ERR The user name 'slotcache-internal' is reserved for the cluster's internal links";

/// The user name prefix with which an internal link logs in on behalf of a client's user
/// (`slotcache-internal:<user>` with the secret): the shard server then holds what the link
/// runs to that user's rules. A proxy's clients' scripts run so, since only the server sees
/// the calls a script makes.
pub const ON_BEHALF_PREFIX: &str = "slotcache-internal:";

/// Who a login with the cluster's secret is.
#[derive(Debug, PartialEq, Eq)]
pub enum InternalLogin<'a> {
    /// A proxy, controller, CLI or follower: no user's rules apply.
    Internal,
    /// An internal link acting for this user.
    OnBehalfOf(&'a [u8]),
}

/// A cluster secret, checked by its hash in constant time.
pub struct Secret {
    text: String,
    hash: [u8; 32],
}

impl Secret {
    /// A secret from its text (surrounding whitespace, such as a file's newline, dropped).
    /// None when nothing is left.
    pub fn new(text: &str) -> Option<Secret> {
        let text = text.trim();
        (!text.is_empty()).then(|| Secret {
            text: text.to_string(),
            hash: crate::password::hash(text.as_bytes()),
        })
    }

    /// A fresh random secret: 256 bits, in hex.
    pub fn generate() -> Secret {
        let mut random = [0u8; 32];
        rand::fill(&mut random[..]);
        let text: String = random.iter().map(|b| format!("{b:02x}")).collect();
        Secret::new(&text).expect("a generated secret is not empty")
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether `given` is this secret, in constant time.
    pub fn matches(&self, given: &[u8]) -> bool {
        crate::password::matches(&self.hash, given)
    }

    /// The request that logs a connection in with this secret (on behalf of `user`, when
    /// given): `HELLO 3 AUTH` for a RESP3 connection, which also switches the protocol, or
    /// `AUTH`.
    pub fn login_request(&self, resp: u8, user: Option<&[u8]>) -> Vec<u8> {
        use crate::resp::request::{put_array_header, put_bulk};
        let name = match user {
            Some(user) => [ON_BEHALF_PREFIX.as_bytes(), user].concat(),
            None => USER.as_bytes().to_vec(),
        };
        let (name, secret) = (&name[..], self.text.as_bytes());
        let parts: &[&[u8]] = match resp {
            3 => &[b"HELLO", b"3", b"AUTH", name, secret],
            _ => &[b"AUTH", name, secret],
        };
        let mut request = bytes::BytesMut::new();
        put_array_header(&mut request, parts.len());
        parts.iter().for_each(|part| put_bulk(&mut request, part));
        request.to_vec()
    }
}

/// The secret this process presents and accepts.
static CURRENT: RwLock<Option<Arc<Secret>>> = RwLock::new(None);
/// During a rotation, the secret before it: still accepted, and presented to a part that
/// refuses the current one (it has not heard of the rotation yet).
static PREVIOUS: RwLock<Option<Arc<Secret>>> = RwLock::new(None);

/// Makes `secret` the one this process presents and accepts; a rotation installs the next.
pub fn install(secret: Secret) {
    *CURRENT.write() = Some(Arc::new(secret));
}

/// Accepts `previous` too (a rotation under way), or no longer (None: it is over).
pub fn install_previous(previous: Option<Secret>) {
    *PREVIOUS.write() = previous.map(Arc::new);
}

/// The secret installed for this process, if its cluster has one.
pub fn installed() -> Option<Arc<Secret>> {
    CURRENT.read().clone()
}

/// The secret a rotation under way replaces, if any.
pub fn previous() -> Option<Arc<Secret>> {
    PREVIOUS.read().clone()
}

/// Whether `given` is the cluster's secret: the current one or, during a rotation, the one
/// before it.
pub fn accepts_secret(given: &[u8]) -> bool {
    let matches = |secret: Option<Arc<Secret>>| secret.is_some_and(|s| s.matches(given));
    matches(installed()) || matches(previous())
}

/// Who `name` and `password` log in as, when they are the internal credential of this
/// process's cluster.
pub fn login_of<'a>(name: &'a [u8], password: &[u8]) -> Option<InternalLogin<'a>> {
    let login = match name.strip_prefix(ON_BEHALF_PREFIX.as_bytes()) {
        Some(user) => InternalLogin::OnBehalfOf(user),
        None if name == USER.as_bytes() => InternalLogin::Internal,
        None => return None,
    };
    accepts_secret(password).then_some(login)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_themselves() {
        let secret = Secret::new("  abc\n").unwrap();
        assert_eq!(secret.text(), "abc");
        assert!(secret.matches(b"abc"));
        assert!(!secret.matches(b"abc\n"));
        assert!(Secret::new(" \n").is_none());
        let generated = Secret::generate();
        assert_eq!(generated.text().len(), 64);
        assert!(!generated.matches(secret.text().as_bytes()));
    }

    #[test]
    fn login_requests_are_resp_arrays() {
        let secret = Secret::new("s").unwrap();
        assert_eq!(
            secret.login_request(2, None),
            b"*3\r\n$4\r\nAUTH\r\n$18\r\nslotcache-internal\r\n$1\r\ns\r\n"
        );
        assert!(secret
            .login_request(3, None)
            .starts_with(b"*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"));
        assert_eq!(
            secret.login_request(2, Some(b"bob")),
            b"*3\r\n$4\r\nAUTH\r\n$22\r\nslotcache-internal:bob\r\n$1\r\ns\r\n"
        );
    }
}
