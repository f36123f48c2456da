//! The client limits Redis has, shared by the shard server and the proxy so both read and apply
//! them alike: memory sizes as Redis writes them, and `client-output-buffer-limit` with its
//! per-class hard and soft limits (config.c, networking.c `checkClientOutputBufferLimits`).

use std::time::{Duration, Instant};

/// Memory sizes as Redis accepts them: plain bytes or with k/kb/m/mb/g/gb.
pub fn parse_memory(value: &str) -> Result<u64, String> {
    let lower = value.to_ascii_lowercase();
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => lower.split_at(i),
        None => (lower.as_str(), ""),
    };
    let base: u64 = digits
        .parse()
        .map_err(|_| "argument must be a memory value".to_string())?;
    let factor = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err("argument must be a memory value".into()),
    };
    base.checked_mul(factor)
        .ok_or_else(|| "argument must be a memory value".into())
}

/// A non-negative count setting, with Redis's error texts.
pub fn parse_count(value: &str) -> Result<u64, String> {
    match value.parse::<i64>() {
        Err(_) => Err("argument couldn't be parsed into an integer".into()),
        Ok(n) if n < 0 => {
            Err("argument must be between 0 and 9223372036854775807 inclusive".into())
        }
        Ok(n) => Ok(n as u64),
    }
}

/// A size with Redis's lower bound for its setting.
pub fn at_least(value: u64, min: u64) -> Result<u64, String> {
    if value < min {
        return Err(format!(
            "argument must be between {min} and 9223372036854775807 inclusive"
        ));
    }
    Ok(value)
}

/// Redis's default `client-query-buffer-limit`, and its smallest allowed value.
pub const DEFAULT_QUERY_BUFFER_LIMIT: u64 = 1024 * 1024 * 1024;
pub const MIN_QUERY_BUFFER_LIMIT: u64 = 1024 * 1024;

/// Who a connection is, as far as its output limit goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientClass {
    Normal,
    Replica,
    Pubsub,
}

/// One class's limits: cut off at `hard` bytes at once, or past `soft` bytes for longer than
/// `soft_seconds`. Zero turns a limit off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit`, with Redis's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimits {
    pub normal: ClassLimit,
    pub replica: ClassLimit,
    pub pubsub: ClassLimit,
}

impl Default for OutputLimits {
    fn default() -> Self {
        const MB: u64 = 1024 * 1024;
        OutputLimits {
            normal: ClassLimit::default(),
            replica: ClassLimit {
                hard: 256 * MB,
                soft: 64 * MB,
                soft_seconds: 60,
            },
            pubsub: ClassLimit {
                hard: 32 * MB,
                soft: 8 * MB,
                soft_seconds: 60,
            },
        }
    }
}

impl OutputLimits {
    pub fn class(&self, class: ClientClass) -> ClassLimit {
        match class {
            ClientClass::Normal => self.normal,
            ClientClass::Replica => self.replica,
            ClientClass::Pubsub => self.pubsub,
        }
    }

    /// CONFIG GET's form: every class, in Redis's order and names.
    pub fn format(&self) -> String {
        [
            ("normal", self.normal),
            ("slave", self.replica),
            ("pubsub", self.pubsub),
        ]
        .iter()
        .map(|(name, l)| format!("{name} {} {} {}", l.hard, l.soft, l.soft_seconds))
        .collect::<Vec<_>>()
        .join(" ")
    }

    /// These limits with CONFIG SET's value applied: groups of `<class> <hard> <soft>
    /// <seconds>`, each replacing its class. The value is checked whole before any of it
    /// applies, as Redis does.
    pub fn updated(&self, value: &str) -> Result<OutputLimits, String> {
        let words: Vec<&str> = value.split_ascii_whitespace().collect();
        if words.len() % 4 != 0 {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        let mut updated = *self;
        for group in words.chunks(4) {
            let slot = match group[0].to_ascii_lowercase().as_str() {
                "normal" => &mut updated.normal,
                "slave" | "replica" => &mut updated.replica,
                "pubsub" => &mut updated.pubsub,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let bad =
                || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            *slot = ClassLimit {
                hard: parse_memory(group[1]).map_err(|_| bad())?,
                soft: parse_memory(group[2]).map_err(|_| bad())?,
                soft_seconds: group[3].parse().map_err(|_| bad())?,
            };
        }
        Ok(updated)
    }
}

/// One connection's standing against its output limit: when it went over the soft limit.
#[derive(Debug, Default)]
pub struct OutputWatch {
    over_soft_since: Option<Instant>,
}

impl OutputWatch {
    /// Whether a connection with `buffered` reply bytes not yet written must be cut off. The
    /// clock is read only past the soft limit: connections ask before every turn.
    pub fn exceeded(
        &mut self,
        limit: ClassLimit,
        buffered: usize,
        now: impl FnOnce() -> Instant,
    ) -> bool {
        let buffered = buffered as u64;
        if limit.hard > 0 && buffered >= limit.hard {
            return true;
        }
        if limit.soft == 0 || buffered < limit.soft {
            self.over_soft_since = None;
            return false;
        }
        let now = now();
        let since = *self.over_soft_since.get_or_insert(now);
        now.duration_since(since) > Duration::from_secs(limit.soft_seconds)
    }

    /// How long until a connection that stays over its soft limit must be cut off, if it is.
    pub fn soft_deadline(&self, limit: ClassLimit) -> Option<Instant> {
        self.over_soft_since
            .map(|since| since + Duration::from_secs(limit.soft_seconds) + Duration::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_in_redis_form() {
        let defaults = OutputLimits::default();
        assert_eq!(
            defaults.format(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        let set = defaults
            .updated("normal 1mb 512kb 10 replica 0 0 0")
            .unwrap();
        assert_eq!(
            set.format(),
            "normal 1048576 524288 10 slave 0 0 0 pubsub 33554432 8388608 60"
        );
        let refusals = [
            (
                "normal 1mb 0",
                "Wrong number of arguments in buffer limit configuration.",
            ),
            (
                "master 1 1 1",
                "Invalid client class specified in buffer limit configuration.",
            ),
            (
                "normal 1mb x 1",
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
            ),
            (
                "normal 1 1 -1",
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
            ),
        ];
        for (value, error) in refusals {
            assert_eq!(defaults.updated(value).unwrap_err(), error, "{value}");
        }
    }

    #[test]
    fn hard_cuts_at_once_and_soft_only_after_its_seconds() {
        let limit = ClassLimit {
            hard: 100,
            soft: 10,
            soft_seconds: 2,
        };
        let start = Instant::now();
        let mut watch = OutputWatch::default();
        assert!(!watch.exceeded(limit, 9, || start));
        assert!(!watch.exceeded(limit, 50, || start));
        assert!(!watch.exceeded(limit, 50, || start + Duration::from_secs(2)));
        assert!(watch.exceeded(limit, 50, || start + Duration::from_millis(2001)));
        // Falling under the soft limit starts its clock again.
        assert!(!watch.exceeded(limit, 5, || start + Duration::from_secs(3)));
        assert!(!watch.exceeded(limit, 50, || start + Duration::from_secs(4)));
        assert!(watch.exceeded(limit, 100, || start + Duration::from_secs(4)));
        assert!(!OutputWatch::default().exceeded(ClassLimit::default(), usize::MAX, || start));
    }
}
