//! Commands the proxy answers with an error instead of sending them on: stopping or
//! reconfiguring whichever server a lane happens to reach is never what a client of the proxy
//! wants. (The database moves Redis Cluster refuses, shard servers refuse themselves.)

use bytes::Bytes;
use slotcache_protocol::command::NOT_IN_MULTI;

/// The error for a command the proxy does not send on; None for every other command.
pub fn refusal(name: &str, args: &[Bytes]) -> Option<&'static str> {
    let sub = |word: &str| {
        args.get(1)
            .is_some_and(|s| s.eq_ignore_ascii_case(word.as_bytes()))
    };
    match name {
        "shutdown" => Some(
            "ERR SHUTDOWN is not supported through slotcache-proxy: stop shard servers \
             themselves (slotcache node drain moves their partitions first)",
        ),
        "config" if sub("set") || sub("resetstat") || sub("rewrite") => Some(
            "ERR CONFIG SET, RESETSTAT and REWRITE are not supported through slotcache-proxy: \
             they would change one shard server; run them on each server",
        ),
        _ => None,
    }
}

/// The error for a command that may not be queued inside MULTI through the proxy. Outside a
/// transaction the proxy answers these for the client's own connection; queued, they would
/// run at EXEC on the backend connection the client shares with others (a CLIENT REPLY OFF,
/// HELLO 3, SELECT or SUBSCRIBE there would change what every other client's replies are).
/// Redis's own text for commands flagged `no-multi`.
pub fn refusal_in_transaction(name: &str) -> Option<&'static str> {
    let changes_connection = matches!(
        name,
        "hello" | "select" | "client" | "auth" | "readonly" | "readwrite" | "asking"
    );
    (changes_connection || crate::pubsub::is_subscription(name)).then_some(NOT_IN_MULTI)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|w| Bytes::from(w.to_string()))
            .collect()
    }

    #[test]
    fn commands_that_would_act_on_one_server_or_database_are_refused() {
        for line in ["SHUTDOWN", "SHUTDOWN NOSAVE"] {
            let name = line
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            assert!(refusal(&name, &args(line)).is_some(), "{line}");
        }
        assert!(refusal("config", &args("CONFIG set maxmemory 1")).is_some());
        assert!(refusal("config", &args("CONFIG GET maxmemory")).is_none());
        assert!(refusal("get", &args("GET k")).is_none());
    }

    #[test]
    fn connection_commands_are_not_queued() {
        for name in [
            "hello",
            "select",
            "client",
            "auth",
            "readonly",
            "subscribe",
            "ssubscribe",
        ] {
            assert!(refusal_in_transaction(name).is_some(), "{name}");
        }
        for name in ["ping", "echo", "get", "publish", "wait"] {
            assert!(refusal_in_transaction(name).is_none(), "{name}");
        }
    }
}
