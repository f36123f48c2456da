//! Redis's protected mode: a server or proxy that no password protects answers only clients
//! on the loopback interface, and tells the others how to open it, in Redis 7.0's words.

use std::net::IpAddr;

/// What a refused client reads before its connection closes (Redis 7.0.15's text, typo included).
pub const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Whether a client from `peer` is refused. Only 127.0.0.1 and ::1 count as local, as in Redis
/// (127.0.0.2 does not).
pub fn refuses(enabled: bool, password_set: bool, peer: IpAddr) -> bool {
    let local = match peer {
        IpAddr::V4(v4) => v4 == std::net::Ipv4Addr::LOCALHOST,
        IpAddr::V6(v6) => {
            v6 == std::net::Ipv6Addr::LOCALHOST
                || v6.to_ipv4_mapped() == Some(std::net::Ipv4Addr::LOCALHOST)
        }
    };
    enabled && !password_set && !local
}

/// `yes` or `no`, as Redis writes booleans.
pub fn parse_yes_no(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_loopback_host_itself_is_local() {
        let peer = |ip: &str| ip.parse::<IpAddr>().unwrap();
        assert!(!refuses(true, false, peer("127.0.0.1")));
        assert!(!refuses(true, false, peer("::1")));
        assert!(!refuses(true, false, peer("::ffff:127.0.0.1")));
        assert!(refuses(true, false, peer("127.0.0.2")));
        assert!(refuses(true, false, peer("10.0.0.5")));
        assert!(!refuses(true, true, peer("10.0.0.5")));
        assert!(!refuses(false, false, peer("10.0.0.5")));
        assert_eq!(DENIED.len(), 1067);
    }
}
