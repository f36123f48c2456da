//! Commands the proxy answers with an error instead of sending them on: stopping whichever
//! server a lane happens to reach is never what a client of the proxy wants. (The database
//! moves Redis Cluster refuses, shard servers refuse themselves.)

use bytes::Bytes;
use slotcache_protocol::command::NOT_IN_MULTI;

/// The error for a command the proxy does not send on; None for every other command.
pub fn refusal(name: &str) -> Option<&'static str> {
    match name {
        "shutdown" => Some(
            "ERR SHUTDOWN is not supported through slotcache-proxy: stop shard servers \
             themselves (slotcache node drain moves their partitions first)",
        ),
        _ => None,
    }
}

/// CONFIG SET, RESETSTAT and REWRITE: they reach every shard server.
pub fn changes_every_server(name: &str, args: &[Bytes]) -> bool {
    name == "config"
        && args.get(1).is_some_and(|sub| {
            ["set", "resetstat", "rewrite"]
                .iter()
                .any(|word| sub.eq_ignore_ascii_case(word.as_bytes()))
        })
}

/// The error for a command that may not be queued inside MULTI through the proxy. Outside a
/// transaction the proxy answers these for the client's own connection; queued, they would
/// run at EXEC on the backend connection the client shares with others (a CLIENT REPLY OFF,
/// HELLO 3, SELECT or SUBSCRIBE there would change what every other client's replies are).
/// Redis's own text for commands flagged `no-multi`.
/// CONFIG SET and its kin would change only the server the transaction runs on.
pub fn refusal_in_transaction(name: &str, args: &[Bytes]) -> Option<&'static str> {
    let changes_connection = matches!(
        name,
        "hello" | "select" | "client" | "auth" | "readonly" | "readwrite" | "asking"
    );
    (changes_connection || crate::pubsub::is_subscription(name) || changes_every_server(name, args))
        .then_some(NOT_IN_MULTI)
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
    fn commands_that_would_act_on_one_server_are_refused_or_reach_all() {
        assert!(refusal("shutdown").is_some());
        assert!(refusal("get").is_none());
        assert!(changes_every_server(
            "config",
            &args("CONFIG set maxmemory 1")
        ));
        assert!(!changes_every_server(
            "config",
            &args("CONFIG GET maxmemory")
        ));
        let queued = |line: &str| refusal_in_transaction("config", &args(line));
        assert!(queued("CONFIG RESETSTAT").is_some());
        assert!(queued("CONFIG GET x").is_none());
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
            assert!(refusal_in_transaction(name, &[]).is_some(), "{name}");
        }
        for name in ["ping", "echo", "get", "publish", "wait"] {
            assert!(refusal_in_transaction(name, &[]).is_none(), "{name}");
        }
    }
}
