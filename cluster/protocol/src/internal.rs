//! The cluster's internal credential: what proxies, controllers, the CLI and followers present
//! to shard servers, so that a cluster whose users have passwords still works, and the
//! replication port serves nobody else. It is a cluster secret (kept in etcd, or given in a
//! file), never a user's password, and it logs in as a reserved user name that ACL SETUSER
//! refuses.
//!
//! A process knows one cluster, so the secret is installed once for the process: every link
//! it opens to a shard server (proxy lanes, dedicated connections, controller probes, the
//! follower's stream) then presents it without threading it through each call.

use std::sync::OnceLock;

/// The user name internal links log in as (`AUTH slotcache-internal <secret>`).
pub const USER: &str = "slotcache-internal";

/// Why ACL SETUSER refuses the reserved name.
pub const RESERVED: &str =
    "ERR The user name 'slotcache-internal' is reserved for the cluster's internal links";

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

    /// The request that logs a connection in with this secret: `HELLO 3 AUTH` for a RESP3
    /// connection, which also switches the protocol, or `AUTH`.
    pub fn login_request(&self, resp: u8) -> Vec<u8> {
        use crate::resp::request::{put_array_header, put_bulk};
        let parts: &[&[u8]] = match resp {
            3 => &[
                b"HELLO",
                b"3",
                b"AUTH",
                USER.as_bytes(),
                self.text.as_bytes(),
            ],
            _ => &[b"AUTH", USER.as_bytes(), self.text.as_bytes()],
        };
        let mut request = bytes::BytesMut::new();
        put_array_header(&mut request, parts.len());
        parts.iter().for_each(|part| put_bulk(&mut request, part));
        request.to_vec()
    }
}

static INSTALLED: OnceLock<Secret> = OnceLock::new();

/// Makes `secret` the one this process presents and accepts. The first call wins.
pub fn install(secret: Secret) {
    let _ = INSTALLED.set(secret);
}

/// The secret installed for this process, if its cluster has one.
pub fn installed() -> Option<&'static Secret> {
    INSTALLED.get()
}

/// Whether `name` and `password` are the internal credential of this process's cluster.
pub fn accepts(name: &[u8], password: &[u8]) -> bool {
    name == USER.as_bytes() && installed().is_some_and(|secret| secret.matches(password))
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
            secret.login_request(2),
            b"*3\r\n$4\r\nAUTH\r\n$18\r\nslotcache-internal\r\n$1\r\ns\r\n"
        );
        assert!(secret
            .login_request(3)
            .starts_with(b"*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"));
    }
}
