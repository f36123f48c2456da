//! CLIENT REPLY ON|OFF|SKIP as a connection applies it, on a shard server and a proxy alike.

/// CLIENT REPLY's modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// The command being run is the one SKIP named.
    Skipping,
}

impl ReplyMode {
    /// Before a command runs.
    pub fn begin(&mut self) {
        if *self == ReplyMode::SkipNext {
            *self = ReplyMode::Skipping;
        }
    }

    /// After the command `args` ran: whether its reply is dropped. REPLY OFF and SKIP silence
    /// themselves as well as what follows; REPLY ON is answered even when it is the command
    /// SKIP named; subscription confirmations are pushed as messages are, which REPLY OFF
    /// does not silence in Redis 7 (a subscriber with replies off still learns what it
    /// subscribed to).
    pub fn end(&mut self, command: &[u8]) -> bool {
        let silenced = match *self {
            ReplyMode::On => false,
            ReplyMode::Skipping => {
                *self = ReplyMode::On;
                true
            }
            ReplyMode::Off | ReplyMode::SkipNext => true,
        };
        silenced && !confirms_subscription(command)
    }

    /// CLIENT REPLY ON|OFF|SKIP; false for another word. SKIP leaves OFF as it is.
    pub fn set(&mut self, word: &[u8]) -> bool {
        *self = if word.eq_ignore_ascii_case(b"on") {
            ReplyMode::On
        } else if word.eq_ignore_ascii_case(b"off") {
            ReplyMode::Off
        } else if word.eq_ignore_ascii_case(b"skip") {
            match *self {
                ReplyMode::Off => ReplyMode::Off,
                _ => ReplyMode::SkipNext,
            }
        } else {
            return false;
        };
        true
    }
}

/// The commands that subscribe and unsubscribe.
pub const SUBSCRIPTION_COMMANDS: [&str; 6] = [
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "ssubscribe",
    "sunsubscribe",
];

fn confirms_subscription(command: &[u8]) -> bool {
    SUBSCRIPTION_COMMANDS
        .iter()
        .any(|p| command.eq_ignore_ascii_case(p.as_bytes()))
}
