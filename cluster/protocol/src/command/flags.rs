//! A command's flags, as Redis's `CMD_*`: the words `COMMAND` reports, in the table's order, and
//! the same set as bits, which the server and the proxy test on every request without reading
//! the words. A spec's flags are parsed when the table is compiled: an unknown word does not
//! build.

/// One flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    Write,
    Readonly,
    Denyoom,
    Admin,
    Pubsub,
    Noscript,
    Blocking,
    Loading,
    Stale,
    SkipMonitor,
    SkipSlowlog,
    Fast,
    NoAuth,
    NoMandatoryKeys,
    /// Refused while a replica loads a snapshot asynchronously (SAVE, BGSAVE...).
    NoAsyncLoading,
    NoMulti,
    Movablekeys,
    AllowBusy,
    /// Redis's hidden `may_replicate`: a command that writes nothing itself but may cause a
    /// write or a message to replicas (PUBLISH, PFCOUNT, scripts). COMMAND does not show it.
    MayReplicate,
}

/// Each flag's word, as Redis spells it.
const WORDS: [(&str, Flag); 19] = [
    ("write", Flag::Write),
    ("readonly", Flag::Readonly),
    ("denyoom", Flag::Denyoom),
    ("admin", Flag::Admin),
    ("pubsub", Flag::Pubsub),
    ("noscript", Flag::Noscript),
    ("blocking", Flag::Blocking),
    ("loading", Flag::Loading),
    ("stale", Flag::Stale),
    ("skip_monitor", Flag::SkipMonitor),
    ("skip_slowlog", Flag::SkipSlowlog),
    ("fast", Flag::Fast),
    ("no_auth", Flag::NoAuth),
    ("no_mandatory_keys", Flag::NoMandatoryKeys),
    ("no_async_loading", Flag::NoAsyncLoading),
    ("no_multi", Flag::NoMulti),
    ("movablekeys", Flag::Movablekeys),
    ("allow_busy", Flag::AllowBusy),
    ("may_replicate", Flag::MayReplicate),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags {
    words: &'static str,
    bits: u32,
}

impl Flags {
    pub const NONE: Flags = Flags::of("");

    /// The flags named by space-separated words.
    pub const fn of(words: &'static str) -> Flags {
        let bytes = words.as_bytes();
        let mut bits = 0;
        let mut start = 0;
        while start < bytes.len() {
            let mut end = start;
            while end < bytes.len() && bytes[end] != b' ' {
                end += 1;
            }
            bits |= 1 << flag_of(bytes, start, end) as u32;
            start = end + 1;
        }
        Flags { words, bits }
    }

    pub fn has(self, flag: Flag) -> bool {
        self.bits & (1 << flag as u32) != 0
    }

    /// The words, as COMMAND reports them (hidden ones left out).
    pub fn words(self) -> impl Iterator<Item = &'static str> {
        self.words
            .split(' ')
            .filter(|word| !word.is_empty() && *word != "may_replicate")
    }
}

/// The flag spelled by `bytes[start..end]`; a word that is no flag stops the build.
const fn flag_of(bytes: &[u8], start: usize, end: usize) -> Flag {
    let mut i = 0;
    while i < WORDS.len() {
        let word = WORDS[i].0.as_bytes();
        if word.len() == end - start {
            let mut j = 0;
            while j < word.len() && word[j] == bytes[start + j] {
                j += 1;
            }
            if j == word.len() {
                return WORDS[i].1;
            }
        }
        i += 1;
    }
    panic!("unknown command flag")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_bits_agree() {
        let flags = Flags::of("write denyoom fast");
        assert!(flags.has(Flag::Write) && flags.has(Flag::Denyoom) && flags.has(Flag::Fast));
        assert!(!flags.has(Flag::Readonly));
        assert_eq!(
            flags.words().collect::<Vec<_>>(),
            ["write", "denyoom", "fast"]
        );
        let hidden = Flags::of("readonly may_replicate");
        assert!(hidden.has(Flag::MayReplicate));
        assert_eq!(hidden.words().collect::<Vec<_>>(), ["readonly"]);
        assert!(!Flags::NONE.has(Flag::Write));
    }
}
