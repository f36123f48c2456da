//! The limits a proxy puts on its clients, under Redis's setting names: set by the proxy's
//! flags and by CONFIG SET through the proxy (see `config`).

use bytes::Bytes;
use slotcache_protocol::limits::{
    at_least, parse_count, parse_memory, OutputLimits, DEFAULT_QUERY_BUFFER_LIMIT,
    MIN_QUERY_BUFFER_LIMIT,
};
use slotcache_protocol::protected_mode::parse_yes_no;
use slotcache_protocol::resp::ParseLimits;

#[derive(Clone, Copy, Debug)]
pub struct ClientLimits {
    pub maxclients: u64,
    pub proto_max_bulk_len: u64,
    pub query_buffer: u64,
    pub output: OutputLimits,
    /// Seconds an idle client is kept; 0: for ever.
    pub timeout: u64,
    /// Without a password, only clients on 127.0.0.1 or ::1 are served.
    pub protected_mode: bool,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            maxclients: 10000,
            proto_max_bulk_len: 512 * 1024 * 1024,
            query_buffer: DEFAULT_QUERY_BUFFER_LIMIT,
            output: OutputLimits::default(),
            timeout: 0,
            protected_mode: true,
        }
    }
}

impl ClientLimits {
    pub fn parse_limits(&self) -> ParseLimits {
        ParseLimits {
            max_bulk_len: self.proto_max_bulk_len as usize,
            ..ParseLimits::default()
        }
    }

    /// The settings that are the proxy's own (see `config`).
    pub const OWN: [&'static str; 5] = [
        "client-output-buffer-limit",
        "client-query-buffer-limit",
        "maxclients",
        "protected-mode",
        "timeout",
    ];

    /// Sets one of the proxy's own settings as a shard server would, with its errors.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        match name {
            "maxclients" => self.maxclients = parse_count(value)?,
            "timeout" => self.timeout = parse_count(value)?,
            "protected-mode" => self.protected_mode = parse_yes_no(value)?,
            "client-query-buffer-limit" => {
                self.query_buffer = at_least(parse_memory(value)?, MIN_QUERY_BUFFER_LIMIT)?
            }
            "client-output-buffer-limit" => self.output = self.output.updated(value)?,
            _ => return Err(format!("{name} is not the proxy's")),
        }
        Ok(())
    }

    /// One of the proxy's own settings as CONFIG GET shows it.
    pub fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "maxclients" => self.maxclients.to_string(),
            "timeout" => self.timeout.to_string(),
            "protected-mode" => if self.protected_mode { "yes" } else { "no" }.into(),
            "client-query-buffer-limit" => self.query_buffer.to_string(),
            "client-output-buffer-limit" => self.output.format(),
            _ => return None,
        })
    }

    /// `proto-max-bulk-len` is the shard servers' and the proxy's alike: the proxy follows a
    /// CONFIG SET of it that it passes on.
    pub fn follow(&mut self, name: &[u8], value: &Bytes) {
        if !name.eq_ignore_ascii_case(b"proto-max-bulk-len") {
            return;
        }
        let parsed = std::str::from_utf8(value)
            .ok()
            .and_then(|v| at_least(parse_memory(v).ok()?, 1024 * 1024).ok());
        if let Some(len) = parsed {
            self.proto_max_bulk_len = len;
        }
    }
}
